#include "densefb/file_format.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace densefb {
namespace {

constexpr char kMagic[8] = {'D', 'E', 'N', 'S', 'E', 'F', 'B', '\0'};

std::uint32_t Crc32(std::uint32_t crc, const void* data, std::size_t bytes) {
  const auto* p = static_cast<const Bytef*>(data);
  while (bytes > 0) {  // zlib takes uInt lengths
    const uInt chunk = bytes > (1u << 30) ? (1u << 30) : static_cast<uInt>(bytes);
    crc = static_cast<std::uint32_t>(crc32(crc, p, chunk));
    p += chunk;
    bytes -= chunk;
  }
  return crc;
}

struct Header {
  char magic[8];
  char kind[4];
  std::uint32_t version;
  std::uint64_t payload_bytes;
  std::uint32_t payload_crc;
  std::uint32_t header_crc;
};
static_assert(sizeof(Header) == kFileHeaderSize);

std::uint32_t HeaderCrc(const Header& h) { return Crc32(crc32(0, nullptr, 0), &h, 28); }

std::string ErrnoText() { return std::strerror(errno); }

const char* FileTypeName(mode_t mode) {
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISDIR(mode)) return "a directory";
  return "not a regular file";
}

// ---- temporary files: a registry that a fatal signal empties ----------------------------------
//
// The handler may only make async-signal-safe calls, so the registry is a fixed table of paths
// with atomic states (free, being changed, live); the handler unlinks the live ones.

constexpr int kMaxLiveTemps = 64;
constexpr std::size_t kMaxTempPath = 4096;
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr int kNumSignals = sizeof(kSignals) / sizeof(kSignals[0]);

struct TempSlot {
  std::atomic<int> state{0};  // 0 free, 1 being changed, 2 live
  char path[kMaxTempPath];
};
TempSlot g_temps[kMaxLiveTemps];
struct sigaction g_previous[kNumSignals];
std::mutex g_install_mutex;

void OnFatalSignal(int sig, siginfo_t* info, void* context) {
  int i = 0;
  while (i < kNumSignals && kSignals[i] != sig) ++i;
  if (i == kNumSignals) return;
  const struct sigaction& previous = g_previous[i];
  if ((previous.sa_flags & SA_SIGINFO) != 0) {
    // The program handles the signal itself and may go on: its writers clean up as usual.
    if (previous.sa_sigaction != nullptr) previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler == SIG_IGN) return;
  if (previous.sa_handler != SIG_DFL) {
    previous.sa_handler(sig);
    return;
  }
  // The signal kills the process: remove the temporary files, then die of it as before.
  const int saved_errno = errno;
  for (TempSlot& slot : g_temps) {
    if (slot.state.load() == 2) ::unlink(slot.path);
  }
  ::sigaction(sig, &previous, nullptr);
  ::raise(sig);  // delivered when this handler returns
  errno = saved_errno;
}

// Puts OnFatalSignal in front of the current disposition of each signal (again if the program
// replaced it since); an ignored signal is left alone.
void InstallSignalHandlers() {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  for (int i = 0; i < kNumSignals; ++i) {
    struct sigaction current {};
    if (::sigaction(kSignals[i], nullptr, &current) != 0) continue;
    if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == OnFatalSignal) continue;
    if ((current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_IGN) continue;
    g_previous[i] = current;
    struct sigaction ours {};
    ours.sa_sigaction = OnFatalSignal;
    ours.sa_mask = current.sa_mask;
    ours.sa_flags = SA_SIGINFO | (current.sa_flags & (SA_RESTART | SA_ONSTACK));
    ::sigaction(kSignals[i], &ours, nullptr);
  }
}

// The slot now holding `path`, or -1 when the table is full or the path too long (the file is
// then only removed by the writer itself or as a stale file by a later save).
int RegisterTemp(const std::string& path) {
  if (path.size() >= kMaxTempPath) return -1;
  InstallSignalHandlers();
  for (int i = 0; i < kMaxLiveTemps; ++i) {
    int expected = 0;
    if (g_temps[i].state.compare_exchange_strong(expected, 1)) {
      std::memcpy(g_temps[i].path, path.c_str(), path.size() + 1);
      g_temps[i].state.store(2);
      return i;
    }
  }
  return -1;
}

void UnregisterTemp(int slot) {
  if (slot >= 0) g_temps[slot].state.store(0);
}

constexpr char kTempMarker[] = ".densefb-tmp-";
constexpr std::size_t kMaxNameInTemp = 200;  // keeps the temporary name within NAME_MAX

// ".<name>.densefb-tmp-": the start of every temporary file name for target `name`.
std::string TempPrefix(const std::string& name) {
  return absl::StrCat(".", name.substr(0, kMaxNameInTemp), kTempMarker);
}

// Removes the temporary files of target `name` in `dir` whose process is gone.
void RemoveStaleTemps(const std::string& dir, const std::string& name) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const std::string prefix = TempPrefix(name);
  const pid_t self = ::getpid();
  while (const dirent* entry = ::readdir(d)) {
    const absl::string_view file = entry->d_name;
    if (!absl::StartsWith(file, prefix)) continue;
    const absl::string_view rest = file.substr(prefix.size());  // "<pid>-<8 hex>"
    const std::size_t dash = rest.find('-');
    std::int64_t pid = 0;
    if (dash == absl::string_view::npos || rest.size() - dash - 1 != 8 ||
        !absl::SimpleAtoi(rest.substr(0, dash), &pid) || pid <= 0 || pid == self) {
      continue;
    }
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      ::unlinkat(::dirfd(d), entry->d_name, 0);
    }
  }
  ::closedir(d);
}

// Follows symbolic links from `path` to the final target (which need not exist). Sets
// `*via_proc` when the chain passes through /proc: a descriptor link such as /dev/stdout,
// whose target is whatever the descriptor is, never to be replaced.
absl::StatusOr<std::string> ResolveLinks(const std::string& path, bool* via_proc) {
  namespace fs = std::filesystem;
  std::string p = path;
  for (int hops = 0;; ++hops) {
    std::error_code ec;
    fs::path parent = fs::path(p).parent_path();
    if (parent.empty()) parent = ".";
    const fs::path real_parent = fs::canonical(parent, ec);
    if (!ec && absl::StartsWith(real_parent.string(), "/proc/")) *via_proc = true;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    if (hops == 40) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": too many levels of symbolic links"));
    }
    std::string target(PATH_MAX, '\0');
    const ssize_t n = ::readlink(p.c_str(), target.data(), target.size());
    if (n < 0) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot read link ", p, ": ", ErrnoText()));
    target.resize(static_cast<std::size_t>(n));
    p = (fs::path(target).is_absolute() ? fs::path(target) : fs::path(p).parent_path() / target).string();
  }
}

}  // namespace

absl::Status CheckPath(absl::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("empty path");
  const std::size_t nul = path.find('\0');
  if (nul != absl::string_view::npos) {
    std::string shown;  // control bytes as \xNN, the rest as given
    for (const char c : path) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        absl::StrAppend(&shown, absl::StrFormat("\\x%02x", static_cast<unsigned char>(c)));
      } else {
        shown += c;
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("path \"", shown, "\" contains a NUL byte (at offset ", nul, ")"));
  }
  return absl::OkStatus();
}

namespace internal {

// Where a writer's bytes go: a temporary file renamed over the target at Commit(), or (for a
// target that must not be replaced) a buffer streamed to the target at Commit().
class OutputTarget {
 public:
  static absl::StatusOr<std::unique_ptr<OutputTarget>> Open(const std::string& path) {
    DENSEFB_RETURN_IF_ERROR(CheckPath(path));
    std::unique_ptr<OutputTarget> out(new OutputTarget(path));
    if (path == "-") {
      out->fd_ = STDOUT_FILENO;
      return out;
    }
    bool via_proc = false;
    DENSEFB_ASSIGN_OR_RETURN(std::string target, ResolveLinks(path, &via_proc));
    struct stat st {};
    const bool exists = ::stat(target.c_str(), &st) == 0;
    if (!exists && errno != ENOENT) {
      return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write: ", ErrnoText()));
    }
    if (exists && S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, expected a file path"));
    }
    if (via_proc || (exists && !S_ISREG(st.st_mode))) {  // stream, never replace
      const std::string& open_path = via_proc ? path : target;
      out->fd_ = ::open(open_path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
      if (out->fd_ < 0) {
        return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open for writing: ", ErrnoText()));
      }
      out->close_fd_ = true;
      return out;
    }
    namespace fs = std::filesystem;
    const fs::path target_path(target);
    const std::string name = target_path.filename().string();
    if (name.empty() || name == "." || name == "..") {
      return absl::InvalidArgumentError(absl::StrCat(path, ": names a directory, expected a file path"));
    }
    fs::path dir = target_path.parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    const fs::path absolute_dir = fs::absolute(dir, ec);
    if (!ec) dir = absolute_dir;
    RemoveStaleTemps(dir.string(), name);
    std::random_device rd;
    out->target_ = target;
    out->dir_ = dir.string();
    out->temp_path_ = (dir / absl::StrCat(TempPrefix(name), ::getpid(), "-",
                                          absl::StrFormat("%08x", static_cast<std::uint32_t>(rd()))))
                          .string();
    out->slot_ = RegisterTemp(out->temp_path_);
    const int fd = ::open(out->temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
      const std::string error = ErrnoText();
      UnregisterTemp(out->slot_);
      out->slot_ = -1;
      out->temp_path_.clear();
      return absl::PermissionDeniedError(absl::StrCat(
          path, ": cannot create a temporary file in ", dir.string(), ": ", error));
    }
    if (exists) ::fchmod(fd, st.st_mode & 07777);  // a replaced file keeps its permissions
    out->file_ = ::fdopen(fd, "wb");
    if (out->file_ == nullptr) {
      ::close(fd);
      return out->IoError("fdopen");
    }
    return out;
  }

  ~OutputTarget() {
    if (file_ != nullptr) std::fclose(file_);
    if (close_fd_) ::close(fd_);
    if (!temp_path_.empty() && !committed_) ::unlink(temp_path_.c_str());
    UnregisterTemp(slot_);
  }

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

  absl::Status Write(const void* data, std::size_t bytes) {
    if (done_) return absl::FailedPreconditionError(absl::StrCat(path_, ": writer already committed"));
    if (bytes == 0) return absl::OkStatus();
    if (file_ == nullptr) {
      buffer_.append(static_cast<const char*>(data), bytes);
    } else if (std::fwrite(data, 1, bytes, file_) != bytes) {
      return IoError("write");
    }
    return absl::OkStatus();
  }

  // Overwrites bytes already written at `offset`.
  absl::Status Overwrite(std::size_t offset, const void* data, std::size_t bytes) {
    if (file_ == nullptr) {
      std::memcpy(buffer_.data() + offset, data, bytes);
      return absl::OkStatus();
    }
    if (std::fflush(file_) != 0) return IoError("flush");
    if (::pwrite(::fileno(file_), data, bytes, static_cast<off_t>(offset)) !=
        static_cast<ssize_t>(bytes)) {
      return IoError("write");
    }
    return absl::OkStatus();
  }

  absl::Status Commit() {
    if (done_) return absl::FailedPreconditionError(absl::StrCat(path_, ": writer already committed"));
    done_ = true;
    if (file_ == nullptr) return Stream();
    if (std::fflush(file_) != 0) return IoError("flush");
    if (::fsync(::fileno(file_)) != 0) return IoError("fsync");
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) return IoError("close");
    if (::rename(temp_path_.c_str(), target_.c_str()) != 0) return IoError("rename");
    committed_ = true;
    UnregisterTemp(slot_);
    slot_ = -1;
    const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {  // makes the rename itself durable
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
    return absl::OkStatus();
  }

 private:
  explicit OutputTarget(std::string path) : path_(std::move(path)) {}

  absl::Status IoError(absl::string_view what) const {
    return absl::DataLossError(absl::StrCat(path_, ": ", what, " failed: ", ErrnoText()));
  }

  absl::Status Stream() {
    const char* p = buffer_.data();
    std::size_t left = buffer_.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return IoError("write");
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && ::fsync(fd_) != 0) return IoError("fsync");
    if (close_fd_) {
      close_fd_ = false;
      if (::close(fd_) != 0) return IoError("close");
    }
    return absl::OkStatus();
  }

  std::string path_;       // as given, for messages
  std::string target_;     // the final target of the links (temporary-file mode)
  std::string dir_;        // its folder
  std::string temp_path_;  // "" when streaming
  std::FILE* file_ = nullptr;
  int slot_ = -1;
  int fd_ = -1;  // streaming: the target's descriptor
  bool close_fd_ = false;
  std::string buffer_;  // streaming: everything written, sent at Commit()
  bool done_ = false;
  bool committed_ = false;
};

}  // namespace internal

absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes) {
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<internal::OutputTarget> out,
                           internal::OutputTarget::Open(path));
  DENSEFB_RETURN_IF_ERROR(out->Write(bytes.data(), bytes.size()));
  return out->Commit();
}

AtomicFileWriter::AtomicFileWriter(std::unique_ptr<internal::OutputTarget> out, std::string kind,
                                   std::uint32_t version)
    : out_(std::move(out)),
      kind_(std::move(kind)),
      version_(version),
      crc_(static_cast<std::uint32_t>(crc32(0, nullptr, 0))) {}

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Open(std::string path,
                                                                         absl::string_view kind,
                                                                         std::uint32_t version) {
  if (kind.size() != 4) return absl::InternalError("file kind must have 4 characters");
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<internal::OutputTarget> out,
                           internal::OutputTarget::Open(path));
  std::unique_ptr<AtomicFileWriter> writer(
      new AtomicFileWriter(std::move(out), std::string(kind), version));
  const Header placeholder{};
  DENSEFB_RETURN_IF_ERROR(writer->out_->Write(&placeholder, sizeof(placeholder)));
  return writer;
}

AtomicFileWriter::~AtomicFileWriter() = default;

const std::string& AtomicFileWriter::path() const { return out_->path(); }
const std::string& AtomicFileWriter::temp_path() const { return out_->temp_path(); }

absl::Status AtomicFileWriter::Write(const void* data, std::size_t bytes) {
  DENSEFB_RETURN_IF_ERROR(out_->Write(data, bytes));
  crc_ = Crc32(crc_, data, bytes);
  payload_bytes_ += bytes;
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::WriteString(absl::string_view s) {
  DENSEFB_RETURN_IF_ERROR(WritePod<std::uint64_t>(s.size()));
  return Write(s.data(), s.size());
}

absl::Status AtomicFileWriter::Commit() {
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  std::memcpy(h.kind, kind_.data(), 4);
  h.version = version_;
  h.payload_bytes = payload_bytes_;
  h.payload_crc = crc_;
  h.header_crc = HeaderCrc(h);
  DENSEFB_RETURN_IF_ERROR(out_->Overwrite(0, &h, sizeof(h)));
  return out_->Commit();
}

FileReader::FileReader(std::string path, std::FILE* file, std::uint32_t version,
                       std::uint64_t payload)
    : path_(std::move(path)), file_(file), version_(version), payload_bytes_(payload) {}

FileReader::~FileReader() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::StatusOr<std::unique_ptr<FileReader>> FileReader::Open(const std::string& path,
                                                             absl::string_view kind,
                                                             std::uint32_t max_version) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(path));
  // Everything below works on this descriptor: the path may be replaced at any moment.
  // O_NONBLOCK keeps a FIFO from blocking the open; it is refused just below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", ErrnoText()));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string error = ErrnoText();
    ::close(fd);
    return absl::DataLossError(absl::StrCat(path, ": cannot stat: ", error));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    if (S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not an index file"));
    }
    return absl::InvalidArgumentError(absl::StrCat(path, ": is not a regular file (",
                                                   FileTypeName(st.st_mode), "), not an index file"));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::FILE* file = ::fdopen(fd, "rb");
  if (file == nullptr) {
    const std::string error = ErrnoText();
    ::close(fd);
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", error));
  }
  std::unique_ptr<FileReader> reader(new FileReader(path, file, 0, 0));
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size == 0) {
    return absl::DataLossError(absl::StrCat(path, ": is empty (0 bytes), not an index file"));
  }
  Header h{};
  if (file_size < sizeof(Header) || std::fread(&h, sizeof(h), 1, file) != 1) {
    return absl::DataLossError(absl::StrCat(path, ": truncated (", file_size,
                                            " bytes, shorter than the 32-byte header)"));
  }
  if (std::memcmp(h.magic, kMagic, 8) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a densefb index file (bad magic)"));
  }
  if (HeaderCrc(h) != h.header_crc) {
    return absl::DataLossError(absl::StrCat(path, ": header checksum mismatch (corrupt file)"));
  }
  if (absl::string_view(h.kind, 4) != kind) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": holds a \"", absl::string_view(h.kind, 4),
                                                   "\" index, expected \"", kind, "\""));
  }
  if (h.version == 0 || h.version > max_version) {
    return absl::UnimplementedError(absl::StrCat(path, ": format version ", h.version,
                                                 " is not supported (this build reads 1..",
                                                 max_version, ")"));
  }
  if (h.payload_bytes != file_size - sizeof(Header)) {
    return absl::DataLossError(absl::StrCat(path, ": truncated or extended: header announces ",
                                            h.payload_bytes, " payload bytes, file holds ",
                                            file_size - sizeof(Header)));
  }
  // Verify the checksum in one streaming pass before any field is trusted.
  std::vector<char> buffer(1 << 20);
  std::uint32_t crc = static_cast<std::uint32_t>(crc32(0, nullptr, 0));
  std::uint64_t left = h.payload_bytes;
  while (left > 0) {
    const std::size_t chunk = left < buffer.size() ? static_cast<std::size_t>(left) : buffer.size();
    if (std::fread(buffer.data(), 1, chunk, file) != chunk) {
      return absl::DataLossError(absl::StrCat(path, ": read error: ", ErrnoText()));
    }
    crc = Crc32(crc, buffer.data(), chunk);
    left -= chunk;
  }
  if (crc != h.payload_crc) {
    return absl::DataLossError(absl::StrCat(path, ": payload checksum mismatch (corrupt file)"));
  }
  if (std::fseek(file, sizeof(Header), SEEK_SET) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": seek failed: ", ErrnoText()));
  }
  reader->version_ = h.version;
  reader->payload_bytes_ = h.payload_bytes;
  return reader;
}

int FileReader::fd() const { return ::fileno(file_); }

absl::Status FileReader::Corrupt(absl::string_view problem) const {
  return absl::DataLossError(
      absl::StrCat(path_, " offset ", kFileHeaderSize + position_, ": ", problem));
}

absl::Status FileReader::Read(void* data, std::size_t bytes, absl::string_view what) {
  if (bytes > remaining()) {
    return Corrupt(absl::StrCat("truncated while reading ", what, " (", bytes, " bytes needed, ",
                                remaining(), " left)"));
  }
  if (bytes > 0 && std::fread(data, 1, bytes, file_) != bytes) {
    return Corrupt(absl::StrCat("read error in ", what, ": ", ErrnoText()));
  }
  position_ += bytes;
  return absl::OkStatus();
}

absl::Status FileReader::ReadCount(std::uint64_t* count, std::size_t element_size,
                                   absl::string_view what) {
  DENSEFB_RETURN_IF_ERROR(ReadPod(count, what));
  if (element_size > 0 && *count > remaining() / element_size) {
    return Corrupt(absl::StrCat(what, " = ", *count, " does not fit in the ", remaining(),
                                " bytes left"));
  }
  return absl::OkStatus();
}

absl::Status FileReader::ReadString(std::string* s, absl::string_view what) {
  std::uint64_t n = 0;
  DENSEFB_RETURN_IF_ERROR(ReadCount(&n, 1, what));
  s->resize(n);
  return Read(s->data(), n, what);
}

absl::Status FileReader::ExpectEnd() {
  if (remaining() != 0) {
    return Corrupt(absl::StrCat(remaining(), " unexpected trailing payload bytes"));
  }
  return absl::OkStatus();
}

}  // namespace densefb
