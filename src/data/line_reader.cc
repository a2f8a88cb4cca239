#include "data/line_reader.h"

#include <zlib.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "densefb/data.h"
#include "densefb/file_format.h"

namespace densefb {
namespace {

constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";

}  // namespace

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
  if (!started_) {  // a BOM at the start of the file is no part of line 1
    started_ = true;
    while (buffer_.size() < kUtf8Bom.size() && !eof_) DENSEFB_RETURN_IF_ERROR(Fill());
    if (absl::StartsWith(buffer_, kUtf8Bom)) pos_ = kUtf8Bom.size();
  }
  while (true) {
    const std::size_t nl = buffer_.find('\n', pos_);
    if (nl == std::string::npos && !eof_) {
      DENSEFB_RETURN_IF_ERROR(Fill());
      continue;
    }
    if (nl == std::string::npos && pos_ >= buffer_.size()) return false;
    const std::size_t stop = nl == std::string::npos ? buffer_.size() : nl;
    std::size_t end = stop;
    if (end > pos_ && buffer_[end - 1] == '\r') --end;
    line->assign(buffer_, pos_, end - pos_);
    pos_ = nl == std::string::npos ? buffer_.size() : nl + 1;
    ++line_number_;
    const std::size_t bad = FindInvalidUtf8(*line);
    if (bad != absl::string_view::npos) {
      return Error(absl::StrFormat("not UTF-8 (byte 0x%02X at byte %d of the line)",
                                   static_cast<unsigned char>((*line)[bad]), bad + 1));
    }
    return true;
  }
}

}  // namespace densefb
