// Writing files so that nothing is lost: every file the library writes (weights, checkpoints,
// pictures, caches, metrics) goes through write_file_atomically.
#pragma once

#include <filesystem>
#include <string>

namespace convnet {

// Replaces `path` atomically with `contents`: writes PATH.tmpPID beside it, fsyncs it, renames it
// over `path`, then fsyncs the folder. A process killed at any moment leaves `path` either as it
// was or wholly new; the temporary file it may leave is removed by the next write of `path` (by
// any process: one named after a PID that no longer runs is stale). On any failure (a full disk,
// a quota, a file-size limit, a short write, fsync or close failing) throws convnet::Error naming
// the file, the cause and that the previous file is kept, and removes the temporary file.
// Refuses to replace what is not a regular file (a folder, a FIFO, a device).
void write_file_atomically(const std::filesystem::path& path, const std::string& contents);

}  // namespace convnet
