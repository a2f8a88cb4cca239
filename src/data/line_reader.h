// Internal: reads text files line by line, gzip-compressed or plain (detected by content). The
// one line reader of every text format: it skips a UTF-8 byte order mark at the start of the
// file, ends lines at "\n" or "\r\n", and refuses a line that is not well-formed UTF-8.
#ifndef DENSEFB_SRC_DATA_LINE_READER_H_
#define DENSEFB_SRC_DATA_LINE_READER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "densefb/status.h"

namespace densefb {

class LineReader {
 public:
  // NotFound if the file does not exist; InvalidArgument for a directory.
  static absl::StatusOr<std::unique_ptr<LineReader>> Open(const std::string& path);
  ~LineReader();

  // Reads the next line (without "\n" or "\r\n", nor a BOM on line 1) into `line`; false at
  // the end of the file; "<path> line <n>: not UTF-8 ..." if the line is not well-formed.
  absl::StatusOr<bool> Next(std::string* line);
  // 1-based number of the line last returned.
  std::int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }
  // "<path> line <n>: <problem>" as an InvalidArgument status.
  absl::Status Error(absl::string_view problem) const;

 private:
  LineReader(std::string path, void* gz) : path_(std::move(path)), gz_(gz) {}
  absl::Status Fill();
  std::string path_;
  void* gz_;  // gzFile
  std::string buffer_;
  std::size_t pos_ = 0;
  bool eof_ = false;
  bool started_ = false;  // the BOM check is done
  std::int64_t line_number_ = 0;
};

}  // namespace densefb

#endif  // DENSEFB_SRC_DATA_LINE_READER_H_
