#include "data/line_reader.h"

#include <zlib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "densefb/file_format.h"

namespace densefb {

absl::StatusOr<std::unique_ptr<LineReader>> LineReader::Open(const std::string& path) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(path));
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, expected a file"));
  }
  // gzopen reads plain files transparently, so .jsonl and .jsonl.gz share one path.
  gzFile gz = gzopen(path.c_str(), "rb");
  if (gz == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open"));
  }
  gzbuffer(gz, 1 << 17);
  return std::unique_ptr<LineReader>(new LineReader(path, gz));
}

LineReader::~LineReader() { gzclose(static_cast<gzFile>(gz_)); }

absl::Status LineReader::Error(absl::string_view problem) const {
  return absl::InvalidArgumentError(absl::StrCat(path_, " line ", line_number_, ": ", problem));
}

absl::Status LineReader::Fill() {
  buffer_.erase(0, pos_);
  pos_ = 0;
  const std::size_t old = buffer_.size();
  buffer_.resize(old + (1 << 16));
  const int got = gzread(static_cast<gzFile>(gz_), buffer_.data() + old, 1 << 16);
  if (got < 0) {
    int errnum = 0;
    const char* msg = gzerror(static_cast<gzFile>(gz_), &errnum);
    buffer_.resize(old);
    return absl::DataLossError(absl::StrCat(path_, " after line ", line_number_,
                                            ": read error: ", msg ? msg : "unknown"));
  }
  buffer_.resize(old + static_cast<std::size_t>(got));
  if (got == 0) {
    int errnum = 0;
    const char* msg = gzerror(static_cast<gzFile>(gz_), &errnum);
    if (errnum != Z_OK && errnum != Z_STREAM_END) {
      return absl::DataLossError(absl::StrCat(path_, " after line ", line_number_,
                                              ": corrupt or truncated gzip data: ", msg));
    }
    eof_ = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> LineReader::Next(std::string* line) {
  while (true) {
    const std::size_t nl = buffer_.find('\n', pos_);
    if (nl != std::string::npos) {
      std::size_t end = nl;
      if (end > pos_ && buffer_[end - 1] == '\r') --end;
      line->assign(buffer_, pos_, end - pos_);
      pos_ = nl + 1;
      ++line_number_;
      return true;
    }
    if (eof_) {
      if (pos_ >= buffer_.size()) return false;
      std::size_t end = buffer_.size();
      if (buffer_[end - 1] == '\r') --end;
      line->assign(buffer_, pos_, end - pos_);
      pos_ = buffer_.size();
      ++line_number_;
      return true;
    }
    DENSEFB_RETURN_IF_ERROR(Fill());
  }
}

}  // namespace densefb
