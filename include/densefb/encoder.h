// Encoders turn text into vectors. This header is torch-free: implementations backed by
// libtorch live in the densefb::torch target and are created by factories declared in
// densefb/torch/encoders.h.
#ifndef DENSEFB_ENCODER_H_
#define DENSEFB_ENCODER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "densefb/status.h"
#include "densefb/types.h"

namespace densefb {

enum class Pooling : std::uint8_t { kCls, kMean, kMax };

struct EncodeOptions {
  int batch_size = 32;  // texts per forward pass (after sorting by length)
  // Called after each batch with (texts done, total); return false to cancel (Cancelled).
  std::function<bool(std::int64_t, std::int64_t)> progress;
};

// Single-vector bi-encoder: texts -> (n, Dimension()) float32, written into a caller-owned
// buffer. Query and document sides may differ (prefixes), hence two methods.
// Thread safety: Encode* may be called from several threads at once.
class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual int Dimension() const = 0;
  virtual int MaxLength() const = 0;      // tokens per text, specials included
  virtual bool Normalized() const = 0;    // outputs are unit length (use "ip" = cosine)
  virtual absl::Status EncodeQueries(absl::Span<const std::string> texts, MutableMatrixView out,
                                     const EncodeOptions& options = {}) const = 0;
  virtual absl::Status EncodeDocuments(absl::Span<const std::string> texts, MutableMatrixView out,
                                       const EncodeOptions& options = {}) const = 0;
};

// One text's token embeddings with the vocabulary (WordPiece) id of every row.
struct TokenEmbeddings {
  RowMatrix vectors;                     // (tokens, dim)
  std::vector<std::int32_t> token_ids;   // one per row of `vectors`
};

// Multi-vector (ColBERT) encoder: one (tokens, Dimension()) matrix per text.
class TokenEncoder {
 public:
  virtual ~TokenEncoder() = default;
  virtual int Dimension() const = 0;
  virtual absl::StatusOr<std::vector<RowMatrix>> EncodeQueries(
      absl::Span<const std::string> texts, const EncodeOptions& options = {}) const = 0;
  virtual absl::StatusOr<std::vector<RowMatrix>> EncodeDocuments(
      absl::Span<const std::string> texts, const EncodeOptions& options = {}) const = 0;
  // EncodeDocuments with the token id of every kept row (what a multi-vector index stores for
  // token statistics such as ColBERT-PRF's IDF). Encoders that cannot tell ids return
  // Unimplemented (the default).
  virtual absl::StatusOr<std::vector<TokenEmbeddings>> EncodeDocumentsWithIds(
      absl::Span<const std::string> texts, const EncodeOptions& options = {}) const {
    return absl::UnimplementedError("this token encoder does not report token ids");
  }
};

// Cross-encoder: a relevance score for each (query, passage) pair.
class PairScorer {
 public:
  virtual ~PairScorer() = default;
  virtual absl::Status Score(absl::Span<const std::string> queries,
                             absl::Span<const std::string> passages, absl::Span<float> out,
                             const EncodeOptions& options = {}) const = 0;
};

}  // namespace densefb

#endif  // DENSEFB_ENCODER_H_
