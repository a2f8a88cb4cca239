// Builds against the installed densefb package, searches exactly and approximately, and checks
// that both find each vector's own id first. Exit status 0 on success.
#include <cstdio>
#include <random>

#include "densefb/flat_index.h"
#include "densefb/hnsw_index.h"

int main() {
  const int dim = 32, n = 2000;
  densefb::RowMatrix docs(n, dim);
  std::mt19937 gen(1);
  std::normal_distribution<float> dist;
  for (int i = 0; i < docs.size(); ++i) docs.data()[i] = dist(gen);

  auto flat = densefb::FlatIndex::Create(dim, densefb::Metric::kCosine);
  auto hnsw = densefb::HnswIndex::Create(dim, densefb::Metric::kCosine);
  if (!flat.ok() || !hnsw.ok()) return 1;
  if (!(*flat)->Add(densefb::View(docs)).ok() || !(*hnsw)->Add(densefb::View(docs)).ok()) return 1;
  for (densefb::VectorIndex* index : {static_cast<densefb::VectorIndex*>(flat->get()),
                                      static_cast<densefb::VectorIndex*>(hnsw->get())}) {
    auto result = index->Search(densefb::View(docs), {/*k=*/5, /*num_threads=*/0, /*ef_search=*/50});
    if (!result.ok()) {
      std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
      return 1;
    }
    int self = 0;
    for (int i = 0; i < n; ++i) self += result->ids(i, 0) == i;
    std::printf("%d of %d vectors find themselves first\n", self, n);
    if (self < n * 99 / 100) return 1;
  }
  std::printf("consumer ok\n");
  return 0;
}
