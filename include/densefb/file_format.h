// The on-disk container shared by every densefb index file, and the one writer through which
// densefb writes every file (index files and text files alike).
//
// Layout (little-endian):
//   offset  0  char[8]  magic "DENSEFB\0"
//   offset  8  char[4]  kind, e.g. "FLAT", "HNSW"
//   offset 12  u32      format version of that kind
//   offset 16  u64      payload size in bytes
//   offset 24  u32      CRC-32 of the payload
//   offset 28  u32      CRC-32 of bytes 0..27 (guards the header itself)
//   offset 32  payload
//
// Saving. A symbolic link is followed to its final target. A regular file (or a path that does
// not exist yet) is written to a temporary file beside that target, named
// ".<name>.densefb-tmp-<pid>-<8 hex digits>", flushed, fsync'ed and renamed over the target, so
// a crash at any point leaves either the old file or the new one; a replaced file keeps its
// permission bits. The temporary file is removed when the save fails, when the writer is
// destroyed uncommitted, and when SIGINT, SIGTERM or SIGHUP kills the process (signals the
// program handles itself are passed on, and the program cleans up). Temporary files that a
// killed process left behind (SIGKILL, power loss) are removed by the next save to the same
// target once their process id is no longer alive. Anything else (a character device such as
// /dev/stdout or /dev/null, a FIFO, a socket, "-" for standard output, or a path reached through
// /proc such as /dev/fd/N) is never replaced: the bytes are streamed to it at Commit().
//
// Loading. Readers work on the open descriptor only (size by fstat, the mapping of that
// descriptor), never on the path again, so a concurrent atomic replace gives the old file or the
// new one. They check type, magic, kind, version, size and both checksums before parsing
// anything, and every read is bounded by the payload size, so a hostile length field cannot
// allocate more than the file holds.
#ifndef DENSEFB_FILE_FORMAT_H_
#define DENSEFB_FILE_FORMAT_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <type_traits>

#include "densefb/status.h"

namespace densefb {

inline constexpr std::size_t kFileHeaderSize = 32;

// Refuses a path that cannot name a file: an empty one, or one holding a NUL byte (the C
// library would silently cut it there). InvalidArgument naming the path (escaped). Every C++
// entry point that takes a file or folder path calls it first.
absl::Status CheckPath(absl::string_view path);

// Writes `bytes` as the whole content of `path` through the same atomic writer as the index
// files (see above; "-" is standard output). Used for every text file densefb writes.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes);

namespace internal {
class OutputTarget;
}  // namespace internal

// Writes a payload to `path` atomically. Nothing is visible at `path` until Commit()
// succeeds; destroying the writer without committing removes the temporary file. A target
// that is not a regular file is streamed to at Commit() (the payload is held in memory).
class AtomicFileWriter {
 public:
  static absl::StatusOr<std::unique_ptr<AtomicFileWriter>> Open(std::string path,
                                                                absl::string_view kind,
                                                                std::uint32_t version);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  absl::Status Write(const void* data, std::size_t bytes);
  template <typename T>
  absl::Status WritePod(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    return Write(&value, sizeof(T));
  }
  absl::Status WriteString(absl::string_view s);  // u64 length + bytes

  // Finalises the header, flushes, fsyncs and renames over the target path.
  absl::Status Commit();

  const std::string& path() const;
  // The temporary file being written ("" when streaming to a non-regular target).
  const std::string& temp_path() const;

 private:
  AtomicFileWriter(std::unique_ptr<internal::OutputTarget> out, std::string kind,
                   std::uint32_t version);

  std::unique_ptr<internal::OutputTarget> out_;
  std::string kind_;
  std::uint32_t version_;
  std::uint64_t payload_bytes_ = 0;
  std::uint32_t crc_;
};

// Reads a payload written by AtomicFileWriter after verifying it whole.
class FileReader {
 public:
  // Fails (naming the file and the problem) on a bad path, a missing, empty or non-regular
  // file, a directory, a wrong magic or kind, a version above `max_version`, a size that does
  // not match, or a checksum mismatch.
  static absl::StatusOr<std::unique_ptr<FileReader>> Open(const std::string& path,
                                                          absl::string_view kind,
                                                          std::uint32_t max_version);
  ~FileReader();
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  std::uint32_t version() const { return version_; }
  std::uint64_t remaining() const { return payload_bytes_ - position_; }
  const std::string& path() const { return path_; }
  // The size of the opened file (fstat of its descriptor) and the descriptor itself, for a
  // caller that maps the verified file: never reopen the path, it may have been replaced.
  std::uint64_t file_size() const { return kFileHeaderSize + payload_bytes_; }
  int fd() const;

  // Reads exactly `bytes`; `what` names the field in the error message.
  absl::Status Read(void* data, std::size_t bytes, absl::string_view what);
  template <typename T>
  absl::Status ReadPod(T* value, absl::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    return Read(value, sizeof(T), what);
  }
  // Reads a count that announces `element_size`-byte elements, rejecting one that the rest
  // of the payload cannot hold.
  absl::Status ReadCount(std::uint64_t* count, std::size_t element_size, absl::string_view what);
  absl::Status ReadString(std::string* s, absl::string_view what);
  // Fails unless the whole payload has been consumed.
  absl::Status ExpectEnd();
  absl::Status Corrupt(absl::string_view problem) const;  // "<path> offset N: <problem>"

 private:
  FileReader(std::string path, std::FILE* file, std::uint32_t version, std::uint64_t payload);
  std::string path_;
  std::FILE* file_;
  std::uint32_t version_;
  std::uint64_t payload_bytes_;
  std::uint64_t position_ = 0;
};

}  // namespace densefb

#endif  // DENSEFB_FILE_FORMAT_H_
