#include "densefb/file_format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"

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

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path, std::string temp_path, std::FILE* file,
                                   std::string kind, std::uint32_t version)
    : path_(std::move(path)),
      temp_path_(std::move(temp_path)),
      file_(file),
      kind_(std::move(kind)),
      version_(version),
      crc_(static_cast<std::uint32_t>(crc32(0, nullptr, 0))) {}

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Open(std::string path,
                                                                         absl::string_view kind,
                                                                         std::uint32_t version) {
  if (kind.size() != 4) return absl::InternalError("file kind must have 4 characters");
  if (path.empty()) return absl::InvalidArgumentError("empty output path");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, expected a file path"));
  }
  std::random_device rd;
  const std::string temp_path =
      absl::StrCat(path, ".tmp-", ::getpid(), "-", static_cast<std::uint32_t>(rd()));
  std::FILE* file = std::fopen(temp_path.c_str(), "wb");
  if (file == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot create temporary file ", temp_path, ": ", ErrnoText()));
  }
  std::unique_ptr<AtomicFileWriter> writer(
      new AtomicFileWriter(std::move(path), temp_path, file, std::string(kind), version));
  Header placeholder{};
  if (std::fwrite(&placeholder, sizeof(placeholder), 1, file) != 1) {
    return writer->IoError("writing header");
  }
  return writer;
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) std::remove(temp_path_.c_str());
}

absl::Status AtomicFileWriter::IoError(absl::string_view what) const {
  return absl::DataLossError(absl::StrCat(path_, ": ", what, " failed: ", ErrnoText()));
}

absl::Status AtomicFileWriter::Write(const void* data, std::size_t bytes) {
  if (file_ == nullptr) return absl::FailedPreconditionError("writer already committed");
  if (bytes == 0) return absl::OkStatus();
  if (std::fwrite(data, 1, bytes, file_) != bytes) return IoError("write");
  crc_ = Crc32(crc_, data, bytes);
  payload_bytes_ += bytes;
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::WriteString(absl::string_view s) {
  DENSEFB_RETURN_IF_ERROR(WritePod<std::uint64_t>(s.size()));
  return Write(s.data(), s.size());
}

absl::Status AtomicFileWriter::Commit() {
  if (file_ == nullptr) return absl::FailedPreconditionError("writer already committed");
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  std::memcpy(h.kind, kind_.data(), 4);
  h.version = version_;
  h.payload_bytes = payload_bytes_;
  h.payload_crc = crc_;
  h.header_crc = HeaderCrc(h);
  if (std::fflush(file_) != 0) return IoError("flush");
  if (std::fseek(file_, 0, SEEK_SET) != 0) return IoError("seek");
  if (std::fwrite(&h, sizeof(h), 1, file_) != 1) return IoError("writing header");
  if (std::fflush(file_) != 0) return IoError("flush");
  if (::fsync(::fileno(file_)) != 0) return IoError("fsync");
  const int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) return IoError("close");
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) return IoError("rename");
  committed_ = true;
  // Make the rename itself durable.
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  if (dir.empty()) dir = ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
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
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not an index file"));
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", ErrnoText()));
  }
  std::unique_ptr<FileReader> reader(new FileReader(path, file, 0, 0));
  const auto file_size = std::filesystem::file_size(path, ec);
  Header h{};
  if (ec || file_size < sizeof(Header) || std::fread(&h, sizeof(h), 1, file) != 1) {
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
