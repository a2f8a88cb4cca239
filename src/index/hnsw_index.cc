// HnswIndex over hnswlib 0.6.2 (Debian's libhnswlib-dev headers). This is the only file
// that includes hnswlib; the rest of the library sees include/densefb/hnsw_index.h only.
//
// What is taken from hnswlib: the graph structure, the insertion (HierarchicalNSW::addPoint,
// thread-safe for concurrent inserts), its base-layer search (searchBaseLayerST) and its
// capacity growth (resizeIndex). What is ours:
//   * the space: vectors stored as dim + 1 floats (vector as added, then the factor f:
//     1/|v| for cosine, 1 for inner product), distance -(<a, b> * f_a * f_b), a run-time
//     dispatched kernel (kernels.h) with the dot inlined, so this TU needs no -mavx flags;
//   * the search: hnswlib's algorithm (greedy descent through the upper layers, then
//     searchBaseLayerST's beam search, same order, heaps and ties) re-written over the graph's
//     raw memory in kernels_impl.inc, so it is compiled per instruction set with the distance
//     inlined; a per-call ef and no metric counters, on a const graph (hnswlib's searchKnn
//     reads the global ef_ and bumps counters);
//   * the file format (below), written through AtomicFileWriter / read through FileReader,
//     so hnswlib's path-based saveIndex/loadIndex are not used.
//
// File payload, format version 1 (little-endian, container kind "HNSW"):
//   u32 dim, u32 metric (0 ip, 1 cosine)
//   i32 M, i32 ef_construction, i32 ef_search, u64 seed, i32 num_threads
//   u64 n, i64 ids[n]                           ids of rows 0..n-1; from version 2 on, -1
//                                               marks a deleted row (a waypoint in the
//                                               graph, its slot free for reuse)
//   u64 n_graph (== n); when n > 0:
//     u64 bytes_per_element                     hnswlib size_data_per_element_
//     i32 max_level, u32 entry_point
//     level-0 block: n * bytes_per_element      hnswlib's data_level0_memory_ verbatim
//                                               (layer-0 links, dim + 1 floats, label = row)
//     n times: u32 level, level * (4 + 4 * M) bytes of upper-layer links
//     string level generator state, string update generator state (libstdc++'s
//     std::default_random_engine = minstd_rand0, as its operator<< text)
// Version 2 differs only in those -1 ids; an index without deleted rows is written as
// version 1, byte for byte as before. These are exactly the members hnswlib's own saveIndex writes (plus the generator
// states, so a build continued after Load equals one never saved), laid out our way.
#include "densefb/hnsw_index.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

// hnswlib 0.6.2 prefetches the entry after the last link of a list while building
// (searchBaseLayer: *(datal + j + 1)); for a full upper-layer list, malloc'd as
// size * level + 1 bytes, that read runs up to 3 bytes past the requested size. It stays
// inside malloc's usable size and only feeds a prefetch address, so it is harmless, but
// AddressSanitizer reports it: sanitizer builds compile hnswlib without its manual
// SSE prefetching (and SIMD spaces, which we do not use anyway).
#if defined(__SANITIZE_ADDRESS__)
#define NO_MANUAL_VECTORIZATION
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_MANUAL_VECTORIZATION
#endif
#endif
#include <hnswlib/hnswlib.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "densefb/file_format.h"
#include "index/checks.h"
#include "index/id_table.h"
#include "index/kernels.h"
#include "index/rw_lock.h"

namespace densefb {
namespace {

using Graph = hnswlib::HierarchicalNSW<float>;
using hnswlib::tableint;

constexpr int kMaxM = 10000;  // hnswlib caps M here (with a warning); we reject above it
// Internal ids are 32-bit (tableint); keep one value free.
constexpr std::int64_t kMaxElements = std::numeric_limits<tableint>::max() - 1;

// Filtered search scores the allowed set exhaustively when it holds fewer than
// sqrt(kFilterExactCost * ef * n) documents. With a fraction s of n allowed, the traversal needs
// about ef / s expansions to collect ef allowed elements and the exhaustive scan s * n distances;
// they cost the same at s^2 * n = C * ef. Measured crossovers (benchmarks/bench_filter.py,
// docs/benchmarks.md): C ~ 6 at 20k x 128, C ~ 10 at 100k x 384; 8 sits between.
constexpr double kFilterExactCost = 8;
std::int64_t FilterExactBelow(std::int64_t n, std::int64_t ef) {
  return static_cast<std::int64_t>(std::sqrt(kFilterExactCost * static_cast<double>(ef) * static_cast<double>(n)));
}

// The space: rows of dim + 1 floats, distance kernels::KernelSet::hnsw_distance, whose
// parameter is the dimension (hnswlib's getDataByLabel also reads a size_t there).
class DotSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit DotSpace(int dim) : dim_(static_cast<std::size_t>(dim)) {}
  std::size_t get_data_size() override { return (dim_ + 1) * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return kernels::Best().hnsw_distance; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  std::size_t dim_;
};

// The factor stored after a vector: 1/|v| for cosine (0 for a numerically zero vector, see
// InverseNorm), 1 for ip.
float Factor(const float* v, int dim, Metric metric) {
  return metric == Metric::kInnerProduct ? 1.0f : InverseNorm(v, dim);
}

void Encode(const float* v, int dim, Metric metric, float* out) {
  std::memcpy(out, v, sizeof(float) * dim);
  out[dim] = Factor(v, dim, metric);
}

std::size_t LinksBytesPerLevel(const Graph& g) { return g.size_links_per_element_; }

// Asks the kernel for transparent huge pages under the level-0 block (links and vectors of
// every element), best effort: a search touches a few hundred scattered elements, and with 4 KiB
// pages nearly each one costs a TLB miss. Called before the block is first written, so the
// pages are faulted in huge where the system allows it (THP "madvise" or "always").
void AdviseHugePages(const Graph& g) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const auto begin = reinterpret_cast<std::uintptr_t>(g.data_level0_memory_);
  const std::uintptr_t end = begin + g.max_elements_ * g.size_data_per_element_;
  const std::uintptr_t first = (begin + kHuge - 1) / kHuge * kHuge;
  const std::uintptr_t last = end / kHuge * kHuge;
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)g;
#endif
}

absl::Status ExceptionStatus(absl::string_view what, const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr ||
      absl::string_view(e.what()).find("memory") != absl::string_view::npos) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory (", e.what(), ")"));
  }
  return absl::InternalError(absl::StrCat(what, ": hnswlib error: ", e.what()));
}

}  // namespace

absl::Status HnswConfig::Validate() const {
  if (M < 2 || M > kMaxM) {
    return absl::InvalidArgumentError(
        absl::StrCat("HNSW M = ", M, " is out of range (expected 2..", kMaxM, ")"));
  }
  if (ef_construction < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("HNSW ef_construction = ", ef_construction, " must be >= 1"));
  }
  if (ef_search < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("HNSW ef_search = ", ef_search, " must be >= 1"));
  }
  if (num_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("HNSW num_threads = ", num_threads, " must be >= 0 (0 = all cores)"));
  }
  return absl::OkStatus();
}

struct HnswIndex::Impl {
  Impl(int dim_in, Metric metric_in, const HnswConfig& config_in)
      : dim(dim_in), metric(metric_in), config(config_in), space(dim_in) {}

  int dim;
  Metric metric;
  HnswConfig config;
  DotSpace space;                // must outlive `graph`, which points into it
  std::unique_ptr<Graph> graph;  // created by the first non-empty Add (or Load)
  IdTable id_table;              // row -> external id (kNoId: a deleted row, its slot free)
  std::vector<tableint> internal_of_row;  // row -> hnswlib internal id (label = row)
  // Deleted rows stay in the graph as waypoints (hnswlib's mark-delete) until an Add reuses
  // their slot or Compact rebuilds without them. `free_rows` are those rows, reused last
  // deleted first; `live` is a bitmap over internal ids of the rows holding an id, the allow
  // list of every search while something is deleted.
  std::vector<std::int64_t> free_rows;
  std::vector<std::uint64_t> live;
  bool broken = false;           // an Add failed half-way (out of memory); unusable
  // Add holds it exclusively; Search, Reconstruct, Save and size() share it (rw_lock.h).
  mutable std::shared_mutex mutex;
  mutable std::mutex turnstile;

  absl::Status CheckUsable() const {
    if (broken) {
      return absl::FailedPreconditionError(
          "HNSW index is unusable: an earlier Add failed while inserting (out of memory)");
    }
    return absl::OkStatus();
  }

  // Room for `total` elements. A fresh graph gets exactly that; a full one grows to at least
  // `total` and, when `geometric`, by at least half (hnswlib's resizeIndex reallocates, so
  // repeated small adds stay amortised O(1)).
  absl::Status Grow(std::size_t total, bool geometric) {
    if (graph == nullptr) {
      try {
        graph = std::make_unique<Graph>(&space, total, static_cast<std::size_t>(config.M),
                                        static_cast<std::size_t>(config.ef_construction),
                                        static_cast<std::size_t>(config.seed));
      } catch (const std::exception& e) {
        graph.reset();
        return ExceptionStatus("HNSW: allocating the graph", e);
      }
      AdviseHugePages(*graph);
    } else if (total > graph->max_elements_) {
      const std::size_t grown = geometric ? graph->max_elements_ + graph->max_elements_ / 2 : 0;
      const std::size_t capacity = std::min<std::size_t>(std::max(total, grown), kMaxElements);
      try {
        graph->resizeIndex(capacity);
      } catch (const std::exception& e) {
        broken = true;  // resizeIndex may have released part of the old state
        return ExceptionStatus("HNSW: growing the graph", e);
      }
      AdviseHugePages(*graph);
    }
    return absl::OkStatus();
  }

  void SetLive(std::int64_t row, bool on) {
    const tableint internal = internal_of_row[static_cast<std::size_t>(row)];
    if (live.size() <= internal >> 6) live.resize((internal >> 6) + 1, 0);
    const std::uint64_t bit = std::uint64_t{1} << (internal & 63);
    live[internal >> 6] = on ? (live[internal >> 6] | bit) : (live[internal >> 6] & ~bit);
  }

  const float* StoredRow(std::int64_t row) const {
    return reinterpret_cast<const float*>(graph->getDataByInternalId(internal_of_row[row]));
  }

  // Top-k of one encoded query (dim + 1 floats) into scores/ids (`slots` each, k <= slots <=
  // ef, k and ef capped by the index size by the caller; slots past the hits are padding),
  // through kernels::KernelSet::hnsw_search: hnswlib's search compiled for this CPU's
  // instruction set, with the distance inlined.
  void SearchOne(const float* query, std::size_t ef, int k, int slots, const std::uint64_t* allowed,
                 float* scores, std::int64_t* ids, std::vector<std::pair<float, std::int64_t>>& found,
                 std::vector<kernels::HnswHit>& hits) const {
    found.clear();
    const Graph& g = *graph;
    const kernels::HnswGraphView view{g.data_level0_memory_, g.size_data_per_element_, g.offsetData_,
                                      g.linkLists_, g.size_links_per_element_, g.maxlevel_,
                                      g.enterpoint_node_, static_cast<std::int64_t>(dim),
                                      metric != Metric::kInnerProduct};
    hits.resize(static_cast<std::size_t>(k));
    hnswlib::VisitedList* visited = g.visited_list_pool_->getFreeVisitedList();
    struct Release {  // hands the visited list back to the pool, also on bad_alloc
      const Graph& g;
      hnswlib::VisitedList* list;
      ~Release() { g.visited_list_pool_->releaseVisitedList(list); }
    } release{g, visited};
    const std::int64_t hit_count = kernels::Best().hnsw_search(
        view, query, static_cast<std::int64_t>(ef), k,
        visited->mass, visited->curV, allowed, hits.data());
    for (std::int64_t i = 0; i < hit_count; ++i) {
      const auto row = static_cast<std::int64_t>(g.getExternalLabel(hits[i].id));
      found.emplace_back(-hits[i].distance, id_table.id(row));
    }
    Emit(k, slots, scores, ids, found);
  }

  // The allowed ids of a filtered query scored exhaustively (a small allowed set), with the
  // graph's own distance, so scores equal those of the traversal.
  void SearchAllowed(const float* query, absl::Span<const std::int64_t> allowed_ids, int k, int slots,
                     float* scores, std::int64_t* ids, std::vector<std::pair<float, std::int64_t>>& found) const {
    found.clear();
    const std::size_t dim_param = static_cast<std::size_t>(dim);
    const kernels::HnswDistanceFn distance = kernels::Best().hnsw_distance;
    for (std::int64_t id : allowed_ids) {
      const std::int64_t row = id_table.Row(id);
      if (row >= 0) found.emplace_back(-distance(query, StoredRow(row), &dim_param), id);
    }
    Emit(k, slots, scores, ids, found);
  }

  // A bitmap over internal ids of the documents `filter` allows for `query`.
  void AllowedBitmap(const Filter& filter, std::int64_t query, std::vector<std::uint64_t>& bits) const {
    const std::int64_t n = id_table.size();
    bits.assign(static_cast<std::size_t>((graph->cur_element_count + 63) / 64), 0);
    auto set = [&](std::int64_t row) {
      const tableint internal = internal_of_row[static_cast<std::size_t>(row)];
      bits[internal >> 6] |= std::uint64_t{1} << (internal & 63);
    };
    if (filter.Count(query) * 8 < n) {
      for (std::int64_t id : filter.Ids(query)) {
        if (const std::int64_t row = id_table.Row(id); row >= 0) set(row);
      }
    } else {
      for (std::int64_t row = 0; row < n; ++row) {
        const std::int64_t id = id_table.id(row);
        if (id != kNoId && filter.Allows(query, id)) set(row);
      }
    }
  }

  // The best k of `found` (score, id) into `slots` entries, score descending, ties by id.
  static void Emit(int k, int slots, float* scores, std::int64_t* ids,
                   std::vector<std::pair<float, std::int64_t>>& found) {
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    const int n = std::min(k, static_cast<int>(found.size()));
    for (int j = 0; j < n; ++j) {
      scores[j] = found[j].first;
      ids[j] = found[j].second;
    }
    for (int j = n; j < slots; ++j) {
      scores[j] = -std::numeric_limits<float>::infinity();
      ids[j] = kNoId;
    }
  }
};

HnswIndex::HnswIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HnswIndex::~HnswIndex() = default;

absl::StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::Create(int dim, Metric metric,
                                                             const HnswConfig& config) {
  if (dim < 1) {
    return absl::InvalidArgumentError(absl::StrCat("HNSW dim = ", dim, " must be >= 1"));
  }
  if (metric != Metric::kInnerProduct && metric != Metric::kCosine) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown metric value ", static_cast<int>(metric)));
  }
  DENSEFB_RETURN_IF_ERROR(config.Validate());
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::make_unique<Impl>(dim, metric, config)));
}

int HnswIndex::dim() const { return impl_->dim; }
Metric HnswIndex::metric() const { return impl_->metric; }
std::int64_t HnswIndex::size() const {
  ReaderLock lock(impl_->turnstile, impl_->mutex);
  return impl_->id_table.live();
}

std::int64_t HnswIndex::num_deleted() const {
  ReaderLock lock(impl_->turnstile, impl_->mutex);
  return impl_->id_table.holes();
}
const HnswConfig& HnswIndex::config() const { return impl_->config; }

absl::Status HnswIndex::Reserve(std::int64_t n) {
  if (n < 0) return NegativeReserve(n);
  Impl& s = *impl_;
  WriterLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(s.CheckUsable());
  if (n > kMaxElements) {
    return absl::InvalidArgumentError(absl::StrCat("cannot reserve ", n, " HNSW elements; the limit is ", kMaxElements));
  }
  if (n == 0) return absl::OkStatus();
  DENSEFB_RETURN_IF_ERROR(s.Grow(static_cast<std::size_t>(n), /*geometric=*/false));
  try {
    s.id_table.Reserve(n);
    s.internal_of_row.reserve(static_cast<std::size_t>(n));
  } catch (const std::exception& e) {
    return ExceptionStatus("HNSW: reserving the id table", e);
  }
  return absl::OkStatus();
}

absl::Status HnswIndex::Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) {
  Impl& s = *impl_;
  WriterLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(s.CheckUsable());
  const std::int64_t n = vectors.rows;
  if (n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("vectors have ", n, " rows"));
  }
  if (n > 0 && vectors.data == nullptr) {
    return absl::InvalidArgumentError("vectors: null data");
  }
  DENSEFB_RETURN_IF_ERROR(CheckVectors(vectors, s.dim));
  // Sequential ids continue from size(), the live count (with deleted slots, that is not the
  // number of rows, so they are spelt out).
  std::vector<std::int64_t> sequential;
  if (ids.empty() && s.id_table.holes() > 0) {
    sequential.resize(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
    for (std::int64_t i = 0; i < n; ++i) sequential[i] = s.id_table.live() + i;
    ids = sequential;
  }
  DENSEFB_RETURN_IF_ERROR(s.id_table.Validate(n, ids));
  if (n == 0) return absl::OkStatus();
  // Deleted slots are reused first (hnswlib's replace_deleted): the slot keeps its level and
  // takes the new vector, whose links are re-chosen as for an updated point.
  const std::int64_t reused = std::min<std::int64_t>(n, static_cast<std::int64_t>(s.free_rows.size()));
  if (reused > 0) {
    std::vector<float> encoded(s.dim + 1);
    try {
      for (std::int64_t i = 0; i < reused; ++i) {
        const std::int64_t row = s.free_rows.back();
        Encode(vectors.row(i), s.dim, s.metric, encoded.data());
        s.graph->updatePoint(encoded.data(), s.internal_of_row[row], 1.0f);
        s.free_rows.pop_back();
        s.id_table.Fill(row, ids.empty() ? row : ids[i]);
        s.SetLive(row, true);
      }
    } catch (const std::exception& e) {
      s.broken = true;
      return ExceptionStatus("HNSW Add: reusing a deleted slot", e);
    }
    if (reused == n) return absl::OkStatus();
    vectors = ConstMatrixView{vectors.row(reused), n - reused, vectors.cols};
    if (!ids.empty()) ids = ids.subspan(static_cast<std::size_t>(reused));
  }
  return AppendRows(vectors, ids);
}

absl::Status HnswIndex::AppendRows(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) {
  Impl& s = *impl_;
  const std::int64_t n = vectors.rows;
  const std::int64_t base = s.id_table.size();
  const std::int64_t total = base + n;
  if (total > kMaxElements) {
    return absl::InvalidArgumentError(absl::StrCat("HNSW index would hold ", total,
                                                   " vectors; the limit is ", kMaxElements));
  }

  DENSEFB_RETURN_IF_ERROR(s.Grow(static_cast<std::size_t>(total), /*geometric=*/true));

  // Concurrent addPoint is hnswlib's supported way to build in parallel. Its level draws
  // then share one generator without a lock (as in hnswlib's own Python binding), one more
  // reason why only a single-threaded build is reproducible.
  // At most one worker per row: num_threads may come from a file, so it bounds nothing.
  const int threads = static_cast<int>(
      std::min<std::int64_t>(ResolveThreads(s.config.num_threads), std::max<std::int64_t>(n, 1)));
  std::vector<std::vector<float>> buffers(threads, std::vector<float>(s.dim + 1));
  Graph& graph = *s.graph;
  auto insert = [&](std::int64_t i, int worker) {
    float* encoded = buffers[worker].data();
    Encode(vectors.row(i), s.dim, s.metric, encoded);
    graph.addPoint(encoded, static_cast<hnswlib::labeltype>(base + i));
  };
  try {
    std::int64_t first = 0;
    if (base == 0) {  // the entry point goes in alone, then the rest in parallel
      insert(0, 0);
      first = 1;
    }
    ParallelFor(n - first, threads, [&](std::int64_t i, int worker) { insert(first + i, worker); });
  } catch (const std::exception& e) {
    s.broken = true;
    return ExceptionStatus("HNSW Add: inserting", e);
  }

  s.id_table.Append(n, ids);
  s.internal_of_row.resize(static_cast<std::size_t>(total));
  for (std::int64_t internal = base; internal < total; ++internal) {
    const auto row = graph.getExternalLabel(static_cast<tableint>(internal));
    s.internal_of_row[row] = static_cast<tableint>(internal);
  }
  for (std::int64_t row = base; row < total; ++row) s.SetLive(row, true);
  return absl::OkStatus();
}

absl::Status HnswIndex::Delete(absl::Span<const std::int64_t> ids) {
  Impl& s = *impl_;
  WriterLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(s.CheckUsable());
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::int64_t> rows, s.id_table.RowsOf(ids));
  s.free_rows.reserve(s.free_rows.size() + rows.size());
  for (std::int64_t row : rows) {
    s.id_table.Erase(row);
    s.SetLive(row, false);
    s.free_rows.push_back(row);
  }
  return absl::OkStatus();
}

absl::Status HnswIndex::Update(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) {
  Impl& s = *impl_;
  WriterLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(s.CheckUsable());
  DENSEFB_RETURN_IF_ERROR(CheckVectors(vectors, s.dim));
  if (static_cast<std::int64_t>(ids.size()) != vectors.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("got ", ids.size(), " ids for ", vectors.rows, " vectors"));
  }
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::int64_t> rows, s.id_table.RowsOf(ids));
  std::vector<float> encoded(s.dim + 1);
  try {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      Encode(vectors.row(static_cast<std::int64_t>(i)), s.dim, s.metric, encoded.data());
      s.graph->updatePoint(encoded.data(), s.internal_of_row[rows[i]], 1.0f);
    }
  } catch (const std::exception& e) {
    s.broken = true;
    return ExceptionStatus("HNSW Update", e);
  }
  return absl::OkStatus();
}

// A fresh graph over the live rows, inserted in row order with the index's config (so with
// num_threads == 1 it equals a new index built from them): the transient memory is a second
// graph of the live size.
absl::Status HnswIndex::Compact() {
  Impl& s = *impl_;
  WriterLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(s.CheckUsable());
  if (s.id_table.holes() == 0) return absl::OkStatus();
  const std::int64_t n = s.id_table.live();
  if (n == 0) {
    s.graph.reset();
    s.id_table = IdTable();
    s.internal_of_row.clear();
    s.live.clear();
    s.free_rows.clear();
    return absl::OkStatus();
  }
  std::vector<float> vectors;
  std::vector<std::int64_t> ids;
  try {
    vectors.resize(static_cast<std::size_t>(n) * s.dim);
    ids.reserve(static_cast<std::size_t>(n));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat("HNSW Compact: out of memory copying ", n, " vectors"));
  }
  for (std::int64_t row = 0; row < s.id_table.size(); ++row) {
    if (s.id_table.id(row) == kNoId) continue;
    std::memcpy(&vectors[ids.size() * s.dim], s.StoredRow(row), sizeof(float) * s.dim);
    ids.push_back(s.id_table.id(row));
  }
  HnswIndex fresh(std::make_unique<Impl>(s.dim, s.metric, s.config));
  DENSEFB_RETURN_IF_ERROR(fresh.AppendRows(ConstMatrixView{vectors.data(), n, s.dim}, ids));
  Impl& f = *fresh.impl_;
  s.graph = std::move(f.graph);
  s.id_table = std::move(f.id_table);
  s.internal_of_row = std::move(f.internal_of_row);
  s.live = std::move(f.live);
  s.free_rows.clear();
  return absl::OkStatus();
}

absl::Status HnswIndex::Search(ConstMatrixView queries, const SearchOptions& options,
                               float* scores, std::int64_t* ids) const {
  const Impl& s = *impl_;
  ReaderLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(s.CheckUsable());
  const int k = options.k;
  if (queries.rows < 0) {
    return absl::InvalidArgumentError(absl::StrCat("queries have ", queries.rows, " rows"));
  }
  if (options.ef_search < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ef_search = ", options.ef_search, " must be >= 1 (or 0 for the index default)"));
  }
  if (queries.rows > 0 && queries.data == nullptr) {
    return absl::InvalidArgumentError("Search: null queries");
  }
  DENSEFB_RETURN_IF_ERROR(CheckQueries(queries, s.dim, options));
  const std::int64_t nq = queries.rows;
  if (nq == 0 || k == 0) return absl::OkStatus();
  if (scores == nullptr || ids == nullptr) {
    return absl::InvalidArgumentError("Search: null output buffer");
  }

  if (s.id_table.live() == 0) {
    std::fill(scores, scores + nq * k, -std::numeric_limits<float>::infinity());
    std::fill(ids, ids + nq * k, kNoId);
    return absl::OkStatus();
  }
  // What exists caps the sizes: no more candidates or hits than the index has vectors (the
  // caller's buffers keep k slots; those past the results are padding).
  const std::int64_t total = s.id_table.live();
  const int k_kept = static_cast<int>(std::min<std::int64_t>(k, total));
  const std::size_t ef = static_cast<std::size_t>(std::min<std::int64_t>(
      std::max(options.ef_search > 0 ? options.ef_search : s.config.ef_search, k_kept), total));
  const int threads = static_cast<int>(
      std::min<std::int64_t>(ResolveThreads(options.num_threads), nq));
  struct Scratch {
    std::vector<float> query;
    std::vector<std::pair<float, std::int64_t>> found;
    std::vector<kernels::HnswHit> hits;
    std::vector<std::uint64_t> allowed;
  };
  std::vector<Scratch> scratch(threads);
  for (auto& sc : scratch) sc.query.resize(s.dim + 1);
  const Filter* filter = options.filter;
  if (filter != nullptr) DENSEFB_RETURN_IF_ERROR(filter->CheckQueries(nq));
  // A filter shared by every query and large enough for the traversal: one bitmap for all.
  std::vector<std::uint64_t> shared_allowed;
  const std::int64_t exact_below = options.filter_exhaustive_below >= 0
                                        ? options.filter_exhaustive_below
                                        : FilterExactBelow(total, static_cast<std::int64_t>(ef));
  try {
    if (filter != nullptr && filter->rows() == 1 && filter->Count(0) >= exact_below) {
      s.AllowedBitmap(*filter, 0, shared_allowed);
    }
    ParallelFor(nq, threads, [&](std::int64_t i, int worker) {
      Scratch& sc = scratch[worker];
      Encode(queries.row(i), s.dim, s.metric, sc.query.data());
      const std::uint64_t* allowed = nullptr;
      if (filter != nullptr) {
        if (filter->Count(i) < exact_below) {
          s.SearchAllowed(sc.query.data(), filter->Ids(i), k_kept, k, scores + i * k, ids + i * k, sc.found);
          return;
        }
        if (shared_allowed.empty()) s.AllowedBitmap(*filter, i, sc.allowed);
        allowed = shared_allowed.empty() ? sc.allowed.data() : shared_allowed.data();
      }
      // Deleted rows are traversed but never returned: the live rows are the allow list.
      if (allowed == nullptr && s.id_table.holes() > 0) allowed = s.live.data();
      s.SearchOne(sc.query.data(), ef, k_kept, k, allowed, scores + i * k, ids + i * k, sc.found, sc.hits);
    });
  } catch (const std::exception& e) {
    return ExceptionStatus("HNSW Search", e);
  }
  return absl::OkStatus();
}

absl::Status HnswIndex::Reconstruct(absl::Span<const std::int64_t> ids,
                                    MutableMatrixView out) const {
  const Impl& s = *impl_;
  ReaderLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(s.CheckUsable());
  if (out.rows != static_cast<std::int64_t>(ids.size()) || (out.rows > 0 && out.cols != s.dim)) {
    return absl::InvalidArgumentError(absl::StrCat("Reconstruct: output is ", out.rows, " x ",
                                                   out.cols, ", expected ", ids.size(), " x ",
                                                   s.dim));
  }
  std::vector<std::int64_t> rows(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    rows[i] = s.id_table.Row(ids[i]);
    if (rows[i] < 0) {
      return absl::NotFoundError(absl::StrCat("id ", ids[i], " is not in the index"));
    }
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::memcpy(out.row(static_cast<std::int64_t>(i)), s.StoredRow(rows[i]),
                sizeof(float) * s.dim);
  }
  return absl::OkStatus();
}

absl::Status HnswIndex::Save(const std::string& path) const {
  const Impl& s = *impl_;
  ReaderLock lock(s.turnstile, s.mutex);
  DENSEFB_RETURN_IF_ERROR(s.CheckUsable());
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> w,
                           AtomicFileWriter::Open(path, "HNSW", s.id_table.holes() > 0 ? 2 : 1));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint32_t>(static_cast<std::uint32_t>(s.dim)));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint32_t>(static_cast<std::uint32_t>(s.metric)));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::int32_t>(s.config.M));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::int32_t>(s.config.ef_construction));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::int32_t>(s.config.ef_search));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint64_t>(s.config.seed));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::int32_t>(s.config.num_threads));
  const auto n = static_cast<std::uint64_t>(s.id_table.size());
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint64_t>(n));
  DENSEFB_RETURN_IF_ERROR(w->Write(s.id_table.ids().data(), n * sizeof(std::int64_t)));
  DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint64_t>(n));
  if (n > 0) {
    const Graph& g = *s.graph;
    DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint64_t>(g.size_data_per_element_));
    DENSEFB_RETURN_IF_ERROR(w->WritePod<std::int32_t>(g.maxlevel_));
    DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint32_t>(g.enterpoint_node_));
    DENSEFB_RETURN_IF_ERROR(w->Write(g.data_level0_memory_, n * g.size_data_per_element_));
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto level = static_cast<std::uint32_t>(g.element_levels_[i]);
      DENSEFB_RETURN_IF_ERROR(w->WritePod<std::uint32_t>(level));
      if (level > 0) {
        DENSEFB_RETURN_IF_ERROR(w->Write(g.linkLists_[i], level * LinksBytesPerLevel(g)));
      }
    }
    std::ostringstream level_state;
    std::ostringstream update_state;
    level_state << g.level_generator_;
    update_state << g.update_probability_generator_;
    DENSEFB_RETURN_IF_ERROR(w->WriteString(level_state.str()));
    DENSEFB_RETURN_IF_ERROR(w->WriteString(update_state.str()));
  }
  return w->Commit();
}

absl::StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::Load(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<FileReader> r,
                           FileReader::Open(path, "HNSW", kFormatVersion));
  std::uint32_t dim = 0;
  std::uint32_t metric = 0;
  HnswConfig config;
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&dim, "dim"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&metric, "metric"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&config.M, "M"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&config.ef_construction, "ef_construction"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&config.ef_search, "ef_search"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&config.seed, "seed"));
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&config.num_threads, "num_threads"));
  if (dim < 1 || dim > static_cast<std::uint32_t>(std::numeric_limits<int>::max() - 1)) {
    return r->Corrupt(absl::StrCat("dim = ", dim, " is out of range"));
  }
  if (metric > static_cast<std::uint32_t>(Metric::kCosine)) {
    return r->Corrupt(absl::StrCat("unknown metric value ", metric));
  }
  if (absl::Status st = config.Validate(); !st.ok()) return r->Corrupt(st.message());

  auto impl = std::make_unique<Impl>(static_cast<int>(dim), static_cast<Metric>(metric), config);
  std::uint64_t n = 0;
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&n, sizeof(std::int64_t), "id count"));
  if (n > static_cast<std::uint64_t>(kMaxElements)) {
    return r->Corrupt(absl::StrCat("id count ", n, " exceeds the limit ", kMaxElements));
  }
  std::vector<std::int64_t> ids(n);
  DENSEFB_RETURN_IF_ERROR(r->Read(ids.data(), n * sizeof(std::int64_t), "ids"));
  if (absl::Status st = impl->id_table.Assign(std::move(ids), /*holes_allowed=*/r->version() >= 2); !st.ok()) {
    return r->Corrupt(absl::StrCat("ids: ", st.message()));
  }
  std::uint64_t n_graph = 0;
  DENSEFB_RETURN_IF_ERROR(r->ReadPod(&n_graph, "graph size"));
  if (n_graph != n) {
    return r->Corrupt(absl::StrCat("graph holds ", n_graph, " vectors but there are ", n, " ids"));
  }
  if (n > 0) {
    // What hnswlib's constructor will compute for this dim and M.
    const std::size_t links0 = 2 * static_cast<std::size_t>(config.M) * sizeof(tableint) +
                               sizeof(hnswlib::linklistsizeint);
    const std::size_t expected_bytes = links0 + (static_cast<std::size_t>(dim) + 1) * sizeof(float) +
                                       sizeof(hnswlib::labeltype);
    std::uint64_t bytes_per_element = 0;
    std::int32_t max_level = 0;
    std::uint32_t entry = 0;
    DENSEFB_RETURN_IF_ERROR(r->ReadPod(&bytes_per_element, "bytes per element"));
    DENSEFB_RETURN_IF_ERROR(r->ReadPod(&max_level, "max level"));
    DENSEFB_RETURN_IF_ERROR(r->ReadPod(&entry, "entry point"));
    if (bytes_per_element != expected_bytes) {
      return r->Corrupt(absl::StrCat("bytes per element = ", bytes_per_element, ", expected ",
                                     expected_bytes, " for dim ", dim, " and M ", config.M));
    }
    // Refuse to allocate for a level-0 block the file cannot hold.
    if (n > r->remaining() / bytes_per_element) {
      return r->Corrupt(absl::StrCat("level-0 block of ", n, " x ", bytes_per_element,
                                     " bytes does not fit in the ", r->remaining(),
                                     " bytes left"));
    }
    if (entry >= n) {
      return r->Corrupt(absl::StrCat("entry point ", entry, " is not below ", n));
    }
    if (max_level < 0 || max_level > 1000) {
      return r->Corrupt(absl::StrCat("max level ", max_level, " is out of range"));
    }
    Impl& s = *impl;
    try {
      s.graph = std::make_unique<Graph>(&s.space, static_cast<std::size_t>(n),
                                        static_cast<std::size_t>(config.M),
                                        static_cast<std::size_t>(config.ef_construction),
                                        static_cast<std::size_t>(config.seed));
    } catch (const std::exception& e) {
      return ExceptionStatus(absl::StrCat(path, ": loading HNSW graph"), e);
    }
    Graph& g = *s.graph;
    AdviseHugePages(g);
    DENSEFB_CHECK(g.size_data_per_element_ == expected_bytes);
    DENSEFB_RETURN_IF_ERROR(r->Read(g.data_level0_memory_, n * bytes_per_element, "level-0 block"));
    // From here on the destructor frees linkLists_[i] for i < cur_element_count whose
    // element_levels_[i] > 0; levels start at 0 and are set only once a list is allocated.
    g.cur_element_count = static_cast<std::size_t>(n);
    const std::size_t per_level = LinksBytesPerLevel(g);
    for (std::uint64_t i = 0; i < n; ++i) {
      g.linkLists_[i] = nullptr;
      std::uint32_t level = 0;
      DENSEFB_RETURN_IF_ERROR(r->ReadPod(&level, "element level"));
      if (level > static_cast<std::uint32_t>(max_level)) {
        return r->Corrupt(absl::StrCat("element ", i, " has level ", level,
                                       " above the max level ", max_level));
      }
      if (level == 0) continue;
      const std::uint64_t bytes = static_cast<std::uint64_t>(level) * per_level;
      if (bytes > r->remaining()) {
        return r->Corrupt(absl::StrCat("truncated links of element ", i));
      }
      g.linkLists_[i] = static_cast<char*>(std::malloc(bytes + 1));
      if (g.linkLists_[i] == nullptr) {
        return absl::ResourceExhaustedError(absl::StrCat(path, ": out of memory loading links"));
      }
      g.element_levels_[i] = static_cast<int>(level);
      DENSEFB_RETURN_IF_ERROR(r->Read(g.linkLists_[i], bytes, "links"));
    }
    std::string level_state;
    std::string update_state;
    DENSEFB_RETURN_IF_ERROR(r->ReadString(&level_state, "level generator state"));
    DENSEFB_RETURN_IF_ERROR(r->ReadString(&update_state, "update generator state"));
    DENSEFB_RETURN_IF_ERROR(r->ExpectEnd());
    {
      std::istringstream in(level_state);
      in >> g.level_generator_;
      std::istringstream in2(update_state);
      in2 >> g.update_probability_generator_;
      if (in.fail() || in2.fail()) return r->Corrupt("unreadable generator state");
    }

    // Validate the graph so that a search can never leave it: labels are a permutation of
    // the rows, link counts fit, neighbours exist and have the layer they are linked on.
    if (g.element_levels_[entry] != max_level) {
      return r->Corrupt(absl::StrCat("entry point ", entry, " has level ",
                                     g.element_levels_[entry], ", expected ", max_level));
    }
    s.internal_of_row.assign(n, std::numeric_limits<tableint>::max());
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto internal = static_cast<tableint>(i);
      const hnswlib::labeltype row = g.getExternalLabel(internal);
      if (row >= n || s.internal_of_row[row] != std::numeric_limits<tableint>::max()) {
        return r->Corrupt(absl::StrCat("element ", i, " has a bad or repeated row ", row));
      }
      s.internal_of_row[row] = internal;
      for (int level = 0; level <= g.element_levels_[i]; ++level) {
        hnswlib::linklistsizeint* list = g.get_linklist_at_level(internal, level);
        const std::size_t max_count = level == 0 ? g.maxM0_ : g.maxM_;
        if (*list > max_count) {  // count in the low 16 bits; the rest (delete mark) is 0
          return r->Corrupt(absl::StrCat("element ", i, " level ", level, ": ", *list,
                                         " links, at most ", max_count, " allowed"));
        }
        const auto* neighbours = reinterpret_cast<const tableint*>(list + 1);
        for (std::size_t j = 0; j < *list; ++j) {
          if (neighbours[j] >= n || g.element_levels_[neighbours[j]] < level) {
            return r->Corrupt(absl::StrCat("element ", i, " level ", level,
                                           ": bad neighbour ", neighbours[j]));
          }
        }
      }
      // Stored vectors must be finite; the factor is recomputed (bit-identical when intact).
      float* v = reinterpret_cast<float*>(g.getDataByInternalId(internal));
      for (std::uint32_t j = 0; j < dim; ++j) {
        if (!std::isfinite(v[j])) {
          return r->Corrupt(absl::StrCat("stored vector of row ", row, " is not finite"));
        }
      }
      v[dim] = Factor(v, static_cast<int>(dim), s.metric);
      g.label_lookup_[row] = internal;
    }
    g.enterpoint_node_ = entry;
    g.maxlevel_ = max_level;
    for (std::uint64_t row = 0; row < n; ++row) {
      if (s.id_table.id(static_cast<std::int64_t>(row)) == kNoId) {
        s.free_rows.push_back(static_cast<std::int64_t>(row));
      } else {
        s.SetLive(static_cast<std::int64_t>(row), true);
      }
    }
    // The slots deleted last are reused first; after a Load, the highest rows first.
    if (s.live.size() < (n + 63) / 64) s.live.resize((n + 63) / 64, 0);
  } else {
    DENSEFB_RETURN_IF_ERROR(r->ExpectEnd());
  }
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(impl)));
}

}  // namespace densefb
