// ColBERT-PRF: k-means over feedback token embeddings, IDF-weighted expansion embeddings.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include <Eigen/Core>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "densefb/multivector.h"
#include "multivector/maxsim_internal.h"

namespace densefb {
namespace {

using DMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator that is the same on every platform.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  std::uint64_t state_;
};

double SquaredDistance(const double* a, const double* b, std::int64_t d) {
  double s = 0;
  for (std::int64_t i = 0; i < d; ++i) {
    const double t = a[i] - b[i];
    s += t * t;
  }
  return s;
}

// Greedy k-means++ as scikit-learn's _kmeans_plusplus, with densefb's random stream.
DMatrix KMeansPlusPlus(const DMatrix& x, int k, SplitMix64& rng) {
  const std::int64_t n = x.rows(), d = x.cols();
  DMatrix centers(k, d);
  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  std::int64_t first = static_cast<std::int64_t>(rng.Uniform() * static_cast<double>(n));
  first = std::min(first, n - 1);
  centers.row(0) = x.row(first);
  std::vector<double> closest(n);
  double potential = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    closest[i] = SquaredDistance(x.row(i).data(), x.row(first).data(), d);
    potential += closest[i];
  }
  std::vector<double> cumsum(n), best_dist(n), cand_dist(n);
  for (int c = 1; c < k; ++c) {
    double run = 0;
    for (std::int64_t i = 0; i < n; ++i) cumsum[i] = (run += closest[i]);
    std::int64_t best = -1;
    double best_potential = std::numeric_limits<double>::infinity();
    for (int t = 0; t < trials; ++t) {
      const double r = rng.Uniform() * potential;
      std::int64_t cand = std::lower_bound(cumsum.begin(), cumsum.end(), r) - cumsum.begin();
      cand = std::min(cand, n - 1);
      double pot = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        cand_dist[i] = std::min(closest[i], SquaredDistance(x.row(i).data(), x.row(cand).data(), d));
        pot += cand_dist[i];
      }
      if (pot < best_potential) {
        best_potential = pot;
        best = cand;
        best_dist.swap(cand_dist);
      }
    }
    centers.row(c) = x.row(best);
    potential = best_potential;
    closest.swap(best_dist);
    best_dist.resize(n);
  }
  return centers;
}

// Labels (nearest centre, first on ties) and distances of every point; sq_norms = |x_i|^2.
void Assign(const DMatrix& x, const Eigen::VectorXd& sq_norms, const DMatrix& centers, std::vector<std::int32_t>* labels,
            std::vector<double>* distances) {
  const std::int64_t n = x.rows(), k = centers.rows();
  const DMatrix dots = x * centers.transpose();  // n x k
  Eigen::VectorXd c_norms = centers.rowwise().squaredNorm();
  for (std::int64_t i = 0; i < n; ++i) {
    std::int32_t best = 0;
    double best_d = std::numeric_limits<double>::infinity();
    for (std::int64_t c = 0; c < k; ++c) {
      const double dist = sq_norms[i] - 2.0 * dots(i, c) + c_norms[c];
      if (dist < best_d) {
        best_d = dist;
        best = static_cast<std::int32_t>(c);
      }
    }
    (*labels)[i] = best;
    (*distances)[i] = best_d;
  }
}

}  // namespace

absl::StatusOr<KMeansResult> KMeans(ConstMatrixView points, int clusters, std::uint64_t seed, int max_iter,
                                    double tol) {
  if (points.rows < 1) return absl::InvalidArgumentError("k-means needs at least one point");
  if (clusters < 1) return absl::InvalidArgumentError(absl::StrCat("clusters = ", clusters, " must be >= 1"));
  if (max_iter < 1) return absl::InvalidArgumentError(absl::StrCat("max_iter = ", max_iter, " must be >= 1"));
  if (!(tol >= 0)) return absl::InvalidArgumentError(absl::StrCat("tol = ", tol, " must be >= 0"));
  DENSEFB_RETURN_IF_ERROR(CheckFinite(points, "k-means point"));
  const std::int64_t n = points.rows, d = points.cols;
  const int k = static_cast<int>(std::min<std::int64_t>(clusters, n));
  DMatrix x(n, d);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < d; ++j) x(i, j) = points.row(i)[j];
  }
  // scikit-learn's tolerance: tol * mean over features of the variance.
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const double mean_var = (x.rowwise() - mean).array().square().colwise().sum().mean() / static_cast<double>(n);
  const double threshold = tol * mean_var;
  const Eigen::VectorXd sq_norms = x.rowwise().squaredNorm();

  SplitMix64 rng(seed);
  DMatrix centers = KMeansPlusPlus(x, k, rng);
  DMatrix next(k, d);
  std::vector<std::int32_t> labels(n, -1), old_labels(n, -1);
  std::vector<double> distances(n);
  std::vector<std::int64_t> counts(k);
  KMeansResult result;
  bool strict = false;
  int it = 0;
  for (; it < max_iter; ++it) {
    Assign(x, sq_norms, centers, &labels, &distances);
    // New centres: means of the labelled points; empty clusters take the points farthest from
    // their centres (farthest first, ties to the smaller index), which leave their clusters.
    next.setZero();
    std::fill(counts.begin(), counts.end(), 0);
    for (std::int64_t i = 0; i < n; ++i) {
      next.row(labels[i]) += x.row(i);
      ++counts[labels[i]];
    }
    std::vector<int> empty;
    for (int c = 0; c < k; ++c) {
      if (counts[c] == 0) empty.push_back(c);
    }
    if (!empty.empty()) {
      std::vector<std::int64_t> far(n);
      std::iota(far.begin(), far.end(), 0);
      std::stable_sort(far.begin(), far.end(), [&](std::int64_t a, std::int64_t b) { return distances[a] > distances[b]; });
      for (std::size_t e = 0; e < empty.size(); ++e) {
        const std::int64_t p = far[e];
        const int old = labels[p];
        next.row(old) -= x.row(p);
        --counts[old];
        next.row(empty[e]) = x.row(p);
        counts[empty[e]] = 1;
        labels[p] = empty[e];
      }
    }
    for (int c = 0; c < k; ++c) {
      if (counts[c] > 0) next.row(c) /= static_cast<double>(counts[c]);
    }
    const double shift = (next - centers).squaredNorm();
    centers.swap(next);
    if (labels == old_labels) {
      strict = true;
      ++it;
      break;
    }
    if (shift <= threshold) {
      ++it;
      break;
    }
    old_labels = labels;
  }
  if (!strict) Assign(x, sq_norms, centers, &labels, &distances);
  result.centroids = centers.cast<float>();
  result.labels = std::move(labels);
  result.iterations = it;
  return result;
}

absl::Status ColbertPrfConfig::Validate() const {
  if (fb_docs < 1) return absl::InvalidArgumentError(absl::StrCat("fb_docs = ", fb_docs, " must be >= 1"));
  if (clusters < 1) return absl::InvalidArgumentError(absl::StrCat("k (clusters) = ", clusters, " must be >= 1"));
  if (fb_embs < 1) return absl::InvalidArgumentError(absl::StrCat("fb_embs = ", fb_embs, " must be >= 1"));
  if (fb_embs >= clusters) {
    return absl::InvalidArgumentError(
        absl::StrCat("k (clusters) = ", clusters, " must be larger than fb_embs = ", fb_embs));
  }
  if (!std::isfinite(beta)) return absl::InvalidArgumentError("beta must be finite");
  if (neighbours < 1) return absl::InvalidArgumentError(absl::StrCat("neighbours = ", neighbours, " must be >= 1"));
  if (max_iter < 1) return absl::InvalidArgumentError(absl::StrCat("max_iter = ", max_iter, " must be >= 1"));
  if (!(tol >= 0)) return absl::InvalidArgumentError(absl::StrCat("tol = ", tol, " must be >= 0"));
  return absl::OkStatus();
}

absl::StatusOr<ColbertPrf> ColbertPrf::Create(const ColbertPrfConfig& config) {
  DENSEFB_RETURN_IF_ERROR(config.Validate());
  return ColbertPrf(config);
}

absl::StatusOr<std::vector<TokenQuery>> ColbertPrf::Expand(const DocumentTokenSource& source,
                                                           absl::Span<const TokenQuery> queries,
                                                           const BatchRanking& first_pass, int num_threads,
                                                           std::vector<PrfExpansion>* details) const {
  const TokenCollection* index = source.index;
  if (index == nullptr) {
    return absl::FailedPreconditionError("ColBERT-PRF needs a multi-vector index (token statistics and nearest tokens)");
  }
  if (!index->has_token_index()) {
    return absl::FailedPreconditionError("ColBERT-PRF needs the multi-vector index's token index (BuildTokenIndex)");
  }
  if (first_pass.size() != queries.size()) {
    return absl::InvalidArgumentError(absl::StrCat(queries.size(), " queries but ", first_pass.size(), " rankings"));
  }
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  const int dim = index->dim();
  for (std::size_t q = 0; q < queries.size(); ++q) {
    DENSEFB_RETURN_IF_ERROR(mv_internal::CheckTokenQuery(queries[q], dim, static_cast<std::int64_t>(q)));
  }
  const std::size_t nq = queries.size();
  // 1. Feedback documents (the top fb_docs of each ranking, best first).
  std::vector<std::vector<std::int64_t>> feedback(nq);
  std::vector<std::int64_t> all_ids;
  for (std::size_t q = 0; q < nq; ++q) {
    Ranking sorted = first_pass.lists[q];
    SortRanking(sorted, config_.fb_docs);
    for (const ScoredDoc& d : sorted) {
      feedback[q].push_back(d.id);
      all_ids.push_back(d.id);
    }
  }
  mv_internal::DocumentCache cache;
  DENSEFB_RETURN_IF_ERROR(cache.Prepare(source, std::move(all_ids), dim));
  // 2. k-means per query (independent, so any thread split gives the same centroids).
  std::vector<KMeansResult> kmeans(nq);
  std::vector<absl::Status> errors(nq);
  ParallelFor(static_cast<std::int64_t>(nq), ResolveThreads(num_threads), [&](std::int64_t q, int) {
    std::int64_t rows = 0;
    std::vector<ConstMatrixView> docs;
    for (std::int64_t id : feedback[q]) {
      const ConstMatrixView v = cache.Get(id);
      if (v.rows > 0) docs.push_back(v);
      rows += v.rows;
    }
    if (rows == 0) return;  // nothing to cluster: the query stays as it is
    RowMatrix all(rows, dim);
    std::int64_t at = 0;
    for (const ConstMatrixView& v : docs) {
      std::copy_n(v.data, v.rows * dim, all.data() + at * dim);
      at += v.rows;
    }
    auto r = KMeans(View(all), config_.clusters, config_.seed, config_.max_iter, config_.tol);
    if (!r.ok()) {
      errors[q] = r.status();
      return;
    }
    kmeans[q] = *std::move(r);
  });
  for (const absl::Status& s : errors) DENSEFB_RETURN_IF_ERROR(s);
  // 3. The nearest token embeddings of every centroid, one batched search.
  std::int64_t total = 0;
  for (const KMeansResult& r : kmeans) total += r.centroids.rows();
  RowMatrix stacked(total, dim);
  {
    std::int64_t at = 0;
    for (const KMeansResult& r : kmeans) {
      if (r.centroids.rows() > 0) stacked.middleRows(at, r.centroids.rows()) = r.centroids;
      at += r.centroids.rows();
    }
  }
  TokenNeighbours nearest;
  if (total > 0) {
    DENSEFB_ASSIGN_OR_RETURN(nearest, index->Neighbours(View(stacked), config_.neighbours, 0, num_threads));
    if (nearest.token_ids.rows() != total) {
      return absl::InternalError(absl::StrCat("the token collection answered ", nearest.token_ids.rows(), " of ",
                                              total, " centroid searches"));
    }
  }
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::int32_t> excluded, index->ExcludedTokenIds());
  // Each centroid's token: the most frequent valid token among its neighbours; ties to the one
  // met first.
  std::vector<std::int32_t> centroid_token(static_cast<std::size_t>(total), -1);
  for (std::int64_t c = 0; c < total; ++c) {
    std::vector<std::pair<std::int32_t, int>> counts;
    for (int j = 0; j < nearest.token_ids.cols(); ++j) {
      if (nearest.rows(c, j) < 0) continue;
      const auto t = static_cast<std::int32_t>(nearest.token_ids(c, j));
      if (t < 0 || std::binary_search(excluded.begin(), excluded.end(), t)) continue;
      auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& p) { return p.first == t; });
      if (it == counts.end()) {
        counts.emplace_back(t, 1);
      } else {
        ++it->second;
      }
    }
    int best = 0;
    for (const auto& [t, n] : counts) {
      if (n > best) {
        best = n;
        centroid_token[c] = t;
      }
    }
  }
  // Their document frequencies over the collection, asked once.
  std::vector<std::int32_t> distinct;
  for (std::int32_t t : centroid_token) {
    if (t >= 0) distinct.push_back(t);
  }
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::int64_t> df, index->DocumentFrequencies(distinct));
  if (df.size() != distinct.size()) {
    return absl::InternalError(absl::StrCat("the token collection returned ", df.size(), " document frequencies for ",
                                            distinct.size(), " tokens"));
  }
  const std::int64_t num_documents = index->num_documents();
  auto idf_of = [&](std::int32_t t) {
    const auto it = std::lower_bound(distinct.begin(), distinct.end(), t);
    return TokenIdf(df[static_cast<std::size_t>(it - distinct.begin())], num_documents);
  };
  std::vector<TokenQuery> out(nq);
  if (details != nullptr) details->assign(nq, {});
  std::int64_t at = 0;
  for (std::size_t q = 0; q < nq; ++q) {
    const KMeansResult& r = kmeans[q];
    const std::int64_t kc = r.centroids.rows();
    std::vector<std::int32_t> tokens(centroid_token.begin() + at, centroid_token.begin() + at + kc);
    std::vector<double> idf(kc, 0.0);
    for (std::int64_t c = 0; c < kc; ++c) {
      if (tokens[c] >= 0) idf[c] = idf_of(tokens[c]);
    }
    std::vector<int> order;
    for (std::int64_t c = 0; c < kc; ++c) {
      if (tokens[c] >= 0) order.push_back(static_cast<int>(c));
    }
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return idf[a] > idf[b]; });
    if (static_cast<int>(order.size()) > config_.fb_embs) order.resize(config_.fb_embs);
    const TokenQuery& in = queries[q];
    TokenQuery& e = out[q];
    const std::int64_t base = in.vectors.rows();
    e.vectors.resize(base + static_cast<std::int64_t>(order.size()), dim);
    if (base > 0) e.vectors.topRows(base) = in.vectors;
    e.weights.assign(static_cast<std::size_t>(base), 1.0f);
    if (!in.weights.empty()) e.weights = in.weights;
    e.expansion_token_ids = in.expansion_token_ids;
    for (std::size_t i = 0; i < order.size(); ++i) {
      e.vectors.row(base + static_cast<std::int64_t>(i)) = r.centroids.row(order[i]);
      e.weights.push_back(static_cast<float>(static_cast<double>(config_.beta) * idf[order[i]]));
      e.expansion_token_ids.push_back(tokens[order[i]]);
    }
    if (details != nullptr) {
      PrfExpansion& x = (*details)[q];
      x.centroids = r.centroids;
      x.centroid_tokens = tokens;
      x.centroid_idf = idf;
      x.selected = order;
    }
    at += kc;
  }
  return out;
}

}  // namespace densefb
