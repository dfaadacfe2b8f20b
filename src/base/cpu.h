#pragma once

namespace mproc {

// CPUs this process may run on (its affinity mask), else online CPUs; >= 1.
int cpu_count();

}  // namespace mproc
