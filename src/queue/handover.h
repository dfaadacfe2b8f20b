// Anonymous queues handed to children that are not forks of us (spawn,
// forkserver). mproc_queue_export() registers a queue's segment here under
// a token ("@" and the segment's instance id in hex); every spawn or
// forkserver child started afterwards receives the registered descriptors
// with their tokens, and mproc_queue_open(token) attaches to them there.
// A forked child inherits the registry, so the token works there too.
#pragma once

#include <string>
#include <vector>

namespace mproc {
namespace queue {

// Registers the segment behind fd (duplicated) under token; idempotent.
// MPROC_OK or the code of a failed dup.
int export_segment(const std::string &token, int fd);
// Forgets a token (its handle is being freed).
void withdraw_segment(const std::string &token);
// What a child started now must receive.
void exported_segments(std::vector<std::string> *tokens, std::vector<int> *fds);
// In a child: fd arrived for token (the registry takes it).
void adopt_segment(const std::string &token, int fd);
// A new close-on-exec duplicate of the descriptor registered under token,
// or -1.
int dup_exported(const std::string &token);
// "@" followed by 16 lowercase hex digits.
bool valid_token(const char *s);

}  // namespace queue
}  // namespace mproc
