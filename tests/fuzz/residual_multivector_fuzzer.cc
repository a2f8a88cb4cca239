// Fuzzes ResidualMultiVectorIndex::Load (see WriteIndexInput for the input layout). A collection
// that loads must decompress finite documents, answer nearest tokens (real rows, their documents
// and token ids) and MaxSim, and save and load again to the same decompressed documents.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "densefb/residual_multivector.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = densefb_fuzz::WriteIndexInput("in.mvrc", "MVRC", data, size);
  auto index = densefb::ResidualMultiVectorIndex::Load(path);
  if (!index.ok()) {
    densefb_fuzz::CheckNamesFile(index.status(), path);
    return 0;
  }
  const densefb::ResidualMultiVectorIndex& x = **index;
  FUZZ_CHECK(x.dim() >= 1 && x.num_centroids() >= 1 && x.nprobe() >= 1 && x.nprobe() <= x.num_centroids());
  FUZZ_CHECK(x.num_documents() >= 0 && x.num_documents() <= x.size());
  const int dim = x.dim();
  if (dim > (1 << 14) || x.num_tokens() > (1 << 16)) return 0;  // bounds the work below
  std::vector<float> query(static_cast<std::size_t>(dim), 0.25f);
  query[0] = -1.0f;
  auto nb = x.Neighbours({query.data(), 1, dim}, 4, 0, 1);
  FUZZ_CHECK(nb.ok());
  for (int j = 0; j < 4; ++j) {
    const std::int64_t row = nb->rows(0, j);
    if (row < 0) continue;
    FUZZ_CHECK(row < x.num_tokens());
    FUZZ_CHECK(nb->docs(0, j) >= 0 && nb->docs(0, j) < x.size());
    FUZZ_CHECK(nb->token_ids(0, j) == x.token_ids()[row]);
  }
  std::vector<densefb::RowMatrix> docs;
  densefb::BatchRanking cands;
  cands.lists.resize(1);
  for (std::int64_t d = 0; d < std::min<std::int64_t>(x.size(), 4); ++d) {
    auto doc = x.Document(d);
    if (!doc.ok()) continue;  // a deleted document
    for (std::int64_t i = 0; i < doc->size(); ++i) FUZZ_CHECK(std::isfinite(doc->data()[i]));
    docs.push_back(*doc);
    cands.lists[0].push_back({d, 0.0f});
  }
  densefb::TokenQuery q;
  q.vectors = Eigen::Map<const densefb::RowMatrix>(query.data(), 1, dim);
  auto ranked = x.Rerank({&q, 1}, cands, 0, 1);
  FUZZ_CHECK(ranked.ok() && ranked->lists[0].size() == cands.lists[0].size());
  const std::string again = densefb_fuzz::ScratchDir() + "/again.mvrc";
  FUZZ_CHECK(x.Save(again).ok());
  auto reloaded = densefb::ResidualMultiVectorIndex::Load(again);
  FUZZ_CHECK(reloaded.ok() && (*reloaded)->num_tokens() == x.num_tokens());
  std::size_t i = 0;
  for (const densefb::ScoredDoc& d : cands.lists[0]) FUZZ_CHECK((*(*reloaded)->Document(d.id) - docs[i++]).norm() == 0.0f);
  return 0;
}
