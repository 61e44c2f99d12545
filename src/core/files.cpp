// Atomic file writing: a temporary file beside the target, fsync, rename, fsync of the folder.
#include <convnet/core/error.h>
#include <convnet/core/files.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace convnet {

namespace {

// An errno as words, with what it means for the file being written: a full disk, a quota or a
// file-size limit (ulimit -f; the CLI ignores SIGXFSZ, so write() says EFBIG instead of the
// process being killed) each name their cause.
std::string write_failure(int error) {
    std::string words = std::strerror(error);
    if (error == ENOSPC) words += ": the disk is full, or out of inodes (df -i)";
    else if (error == EDQUOT) words += ": over the disk quota";
    else if (error == EFBIG) words += ": over the file-size limit (ulimit -f)";
    return words;
}

// Temporary files of this writer (PATH.tmpPID) whose process no longer runs: a process killed
// between open and rename leaves one; the next write of PATH removes it. A PID that is alive,
// or that we may not signal (EPERM: alive, another user's), is left alone. Best effort: a listing
// or removal that fails is no reason to refuse the write.
void remove_stale_temporaries(const std::filesystem::path& path) {
    const std::string prefix = path.filename().string() + ".tmp";
    const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::error_code error;
    std::filesystem::directory_iterator entries(folder, error);
    if (error) return;
    for (const std::filesystem::directory_entry& entry : entries) {
        const std::string name = entry.path().filename().string();
        if (!name.starts_with(prefix) || name.size() == prefix.size() || name.size() - prefix.size() > 9) continue;
        const std::string digits = name.substr(prefix.size());
        if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
        const auto pid = static_cast<pid_t>(std::stol(digits));
        if (pid <= 0 || pid == ::getpid()) continue;
        if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
        std::error_code ignored;
        std::filesystem::remove(entry.path(), ignored);
    }
}

}  // namespace

void write_file_atomically(const std::filesystem::path& path, const std::string& contents) {
    // Renaming over a device or a folder would replace it (as root, even /dev/null).
    std::error_code status_error;
    const std::filesystem::file_status status = std::filesystem::status(path, status_error);
    if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
        throw Error(path.string() + ": exists and is not a regular file (a folder or a device); not replacing it");
    remove_stale_temporaries(path);
    const std::filesystem::path temporary = path.string() + ".tmp" + std::to_string(::getpid());
    const int descriptor = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (descriptor < 0) {
        const int error = errno;
        throw Error(path.string() + ": cannot write (" + write_failure(error) + ")");
    }
    // Every way out below either renames the whole, synced file over `path` or removes the
    // temporary file and leaves `path` as it was.
    const auto failure = [&](int error, const std::string& what) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        return Error(path.string() + ": " + what + " (" + write_failure(error) + "); " +
                     (std::filesystem::exists(status) ? "the previous file is left as it was" : "nothing was written"));
    };
    std::size_t written = 0;
    while (written < contents.size()) {
        const ssize_t result = ::write(descriptor, contents.data() + written, contents.size() - written);
        if (result < 0 && errno == EINTR) continue;
        if (result <= 0) {  // 0 for a non-empty request: no progress possible, as a full disk
            const int error = result < 0 ? errno : ENOSPC;
            ::close(descriptor);
            throw failure(error, "write failed after " + std::to_string(written) + " of " + std::to_string(contents.size()) + " bytes");
        }
        written += static_cast<std::size_t>(result);
    }
    // A filesystem that allocates late (NFS, ext4's delayed allocation) reports a full disk here.
    if (::fsync(descriptor) != 0) {
        const int error = errno;
        ::close(descriptor);
        throw failure(error, "flushing to disk failed");
    }
    if (::close(descriptor) != 0) {
        const int error = errno;
        throw failure(error, "closing the file failed");
    }
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error = errno;
        throw failure(error, "could not replace the file");
    }
    // The rename itself reaches the disk with its folder; where folders cannot be synced (EINVAL
    // on some filesystems) the file is still whole, so a failure here is not reported.
    const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    const int folder_descriptor = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (folder_descriptor >= 0) {
        ::fsync(folder_descriptor);
        ::close(folder_descriptor);
    }
}

}  // namespace convnet
