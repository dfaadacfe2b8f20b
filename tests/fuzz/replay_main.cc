// Runs a fuzz target's LLVMFuzzerTestOneInput over corpus files without
// libFuzzer, so every ordinary build replays the committed corpus and its
// regression inputs: replay-<target> FILE|DIR...  (exit 0 when every input
// ran; a finding aborts as it would under the fuzzer).
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {

std::vector<std::string> inputs_in(const std::string &path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return {};
  if (!S_ISDIR(st.st_mode)) return {path};
  std::vector<std::string> files;
  if (DIR *d = opendir(path.c_str())) {
    while (dirent *e = readdir(d))
      if (e->d_name[0] != '.') files.push_back(path + "/" + e->d_name);
    closedir(d);
  }
  std::sort(files.begin(), files.end());  // the same order on every run
  return files;
}

}  // namespace

int main(int argc, char **argv) {
  size_t ran = 0;
  for (int i = 1; i < argc; i++) {
    std::vector<std::string> files = inputs_in(argv[i]);
    if (files.empty()) {
      fprintf(stderr, "replay: no input in %s\n", argv[i]);
      return 2;
    }
    for (const std::string &f : files) {
      std::ifstream in(f, std::ios::binary);
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      fprintf(stderr, "replay: %s (%zu bytes)\n", f.c_str(), bytes.size());
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ran++;
    }
  }
  printf("replay: %zu inputs ran\n", ran);
  return ran ? 0 : 2;
}
