// user_roles: how to write each of the four pipeline roles yourself and compose them with the
// built-ins, from objects and (after registering them) from specs. No model needed: the
// documents are a random matrix. Exit status 1 on error.
//
//   Retriever      BruteRetriever  exact dot-product top k over a matrix       "brute(k=10)"
//   FeedbackModel  MeanTop2        query vector := mean of the top 2 documents  "mean_top2"
//   Reranker       NegL2Reranker   score := -|q - d|                            "neg_l2"
//   Fusion         MaxFusion       union of the inputs, best score of any      "max"
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "densefb/feedback.h"
#include "densefb/flat_index.h"
#include "densefb/pipeline.h"
#include "densefb/retrievers.h"

namespace {

using densefb::BatchRanking;
using densefb::QueryState;
using densefb::Ranking;
using densefb::RowMatrix;
using densefb::ScoredDoc;

void SortBest(Ranking& list) {  // score descending, ties by smaller id (the pipeline's order)
  std::sort(list.begin(), list.end(), [](const ScoredDoc& a, const ScoredDoc& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
}

// A retriever: one ranking per query from the current query vectors (which a feedback model
// before it may have replaced). WithDepth lets the pipeline search only as deep as the next
// feedback model reads.
class BruteRetriever final : public densefb::Retriever {
 public:
  BruteRetriever(std::shared_ptr<const RowMatrix> docs, std::int64_t k) : docs_(std::move(docs)), k_(k) {}
  absl::StatusOr<BatchRanking> Retrieve(QueryState& queries) const override {
    if (!queries.has_query_vectors()) return absl::FailedPreconditionError("brute needs query vectors");
    BatchRanking out;
    out.lists.resize(queries.size());
    for (std::size_t q = 0; q < queries.size(); ++q) {
      for (Eigen::Index i = 0; i < docs_->rows(); ++i) {
        out.lists[q].push_back({i, docs_->row(i).dot(queries.query_vectors.row(static_cast<Eigen::Index>(q)))});
      }
      SortBest(out.lists[q]);
      if (static_cast<std::int64_t>(out.lists[q].size()) > k_) out.lists[q].resize(static_cast<std::size_t>(k_));
    }
    return out;
  }
  std::string ToString() const override { return absl::StrCat("brute(k=", k_, ")"); }
  std::shared_ptr<const densefb::Retriever> WithDepth(std::int64_t depth) const override {
    return depth < k_ ? std::make_shared<BruteRetriever>(docs_, depth) : nullptr;
  }

 private:
  std::shared_ptr<const RowMatrix> docs_;
  std::int64_t k_;
};

// A feedback model: refines the query representation in the QueryState from the ranking.
class MeanTop2 final : public densefb::FeedbackModel {
 public:
  explicit MeanTop2(std::shared_ptr<const RowMatrix> docs) : docs_(std::move(docs)) {}
  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override {
    if (!queries.has_query_vectors()) return absl::FailedPreconditionError("mean_top2 needs query vectors");
    for (std::size_t q = 0; q < queries.size(); ++q) {
      const Ranking& list = ranking.lists[q];
      const std::size_t n = std::min<std::size_t>(2, list.size());
      if (n == 0) continue;
      Eigen::RowVectorXf mean = Eigen::RowVectorXf::Zero(docs_->cols());
      for (std::size_t j = 0; j < n; ++j) mean += docs_->row(list[j].id);
      queries.query_vectors.row(static_cast<Eigen::Index>(q)) = mean / static_cast<float>(n);
    }
    return absl::OkStatus();
  }
  std::string ToString() const override { return "mean_top2"; }
  std::int64_t DepthRead() const override { return 2; }

 private:
  std::shared_ptr<const RowMatrix> docs_;
};

// A reranker: re-scores (and may cut) the ranking it is given.
class NegL2Reranker final : public densefb::Reranker {
 public:
  explicit NegL2Reranker(std::shared_ptr<const RowMatrix> docs) : docs_(std::move(docs)) {}
  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override {
    if (!queries.has_query_vectors()) return absl::FailedPreconditionError("neg_l2 needs query vectors");
    for (std::size_t q = 0; q < queries.size(); ++q) {
      for (ScoredDoc& doc : ranking.lists[q]) {
        doc.score = -(docs_->row(doc.id) - queries.query_vectors.row(static_cast<Eigen::Index>(q))).norm();
      }
      SortBest(ranking.lists[q]);
    }
    return ranking;
  }
  std::string ToString() const override { return "neg_l2"; }

 private:
  std::shared_ptr<const RowMatrix> docs_;
};

// A fusion method: several rankings of the same queries in, one out.
class MaxFusion final : public densefb::Fusion {
 public:
  absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs) const override {
    BatchRanking out;
    out.lists.resize(inputs[0]->size());
    for (std::size_t q = 0; q < out.size(); ++q) {
      std::map<std::int64_t, float> best;
      for (const BatchRanking* in : inputs) {
        for (const ScoredDoc& doc : in->lists[q]) {
          auto [it, inserted] = best.emplace(doc.id, doc.score);
          if (!inserted) it->second = std::max(it->second, doc.score);
        }
      }
      for (const auto& [id, score] : best) out.lists[q].push_back({id, score});
      SortBest(out.lists[q]);
    }
    return out;
  }
  std::string ToString(std::size_t) const override { return "max"; }
};

// Registration: a factory per name reads its arguments (StageArgs) and the objects it needs
// (Resources, here the matrix under the name "matrix").
absl::Status Register() {
  using densefb::StageInfo;
  using densefb::StageRole;
  DENSEFB_RETURN_IF_ERROR(densefb::RegisterRetriever(
      StageInfo{"brute", StageRole::kRetriever, "exact dot product over a matrix", {{"k", "10", "documents"}}, {"matrix"}},
      [](densefb::StageArgs& args, const densefb::Resources& r)
          -> absl::StatusOr<std::shared_ptr<const densefb::Retriever>> {
        DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", 10));
        if (k < 1) return absl::InvalidArgumentError(absl::StrCat("stage 'brute': k = ", k, " must be >= 1"));
        DENSEFB_ASSIGN_OR_RETURN(auto docs, r.Require<RowMatrix>("matrix", "brute", "a document matrix"));
        return std::make_shared<BruteRetriever>(docs, k);
      }));
  DENSEFB_RETURN_IF_ERROR(densefb::RegisterFeedbackModel(
      StageInfo{"mean_top2", StageRole::kFeedbackModel, "mean of the top 2 documents", {}, {"matrix"}},
      [](densefb::StageArgs&, const densefb::Resources& r)
          -> absl::StatusOr<std::shared_ptr<const densefb::FeedbackModel>> {
        DENSEFB_ASSIGN_OR_RETURN(auto docs, r.Require<RowMatrix>("matrix", "mean_top2", "a document matrix"));
        return std::make_shared<MeanTop2>(docs);
      }));
  DENSEFB_RETURN_IF_ERROR(densefb::RegisterReranker(
      StageInfo{"neg_l2", StageRole::kReranker, "negative L2 distance", {}, {"matrix"}},
      [](densefb::StageArgs&, const densefb::Resources& r)
          -> absl::StatusOr<std::shared_ptr<const densefb::Reranker>> {
        DENSEFB_ASSIGN_OR_RETURN(auto docs, r.Require<RowMatrix>("matrix", "neg_l2", "a document matrix"));
        return std::make_shared<NegL2Reranker>(docs);
      }));
  return densefb::RegisterFusion(
      StageInfo{"max", StageRole::kFusion, "best score of any input", {}, {}},
      [](densefb::StageArgs&, std::size_t) -> absl::StatusOr<std::shared_ptr<const densefb::Fusion>> {
        return std::make_shared<MaxFusion>();
      });
}

void Print(const char* label, const densefb::Pipeline& p, const BatchRanking& ranking) {
  std::printf("%s\n  spec: %s\n  plan: %s\n  query 0:", label, p.ToString().c_str(), p.Explain().c_str());
  for (std::size_t j = 0; j < ranking.lists[0].size() && j < 5; ++j) {
    std::printf(" %lld (%.3f)", static_cast<long long>(ranking.lists[0][j].id), ranking.lists[0][j].score);
  }
  std::printf("\n");
}

bool Same(const BatchRanking& a, const BatchRanking& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t q = 0; q < a.size(); ++q) {
    if (a.lists[q].size() != b.lists[q].size()) return false;
    for (std::size_t j = 0; j < a.lists[q].size(); ++j) {
      if (a.lists[q][j].id != b.lists[q][j].id || a.lists[q][j].score != b.lists[q][j].score) return false;
    }
  }
  return true;
}

absl::Status Main() {
  // 500 random documents and 4 queries of dimension 16; a cosine flat index for `dense`.
  std::mt19937 gen(1);
  std::normal_distribution<float> dist;
  auto docs = std::make_shared<RowMatrix>(500, 16);
  for (Eigen::Index i = 0; i < docs->size(); ++i) docs->data()[i] = dist(gen);
  RowMatrix query_vectors(4, 16);
  for (Eigen::Index i = 0; i < query_vectors.size(); ++i) query_vectors.data()[i] = dist(gen);
  densefb::Queries queries;
  for (int q = 0; q < 4; ++q) DENSEFB_RETURN_IF_ERROR(queries.Add({absl::StrCat("q", q), "(vectors given)"}));
  DENSEFB_ASSIGN_OR_RETURN(std::shared_ptr<densefb::FlatIndex> index,
                           densefb::FlatIndex::Create(16, densefb::Metric::kCosine));
  DENSEFB_RETURN_IF_ERROR(index->Add(densefb::View(*docs)));

  // From objects: the user's roles next to DenseRetriever and RocchioPrf.
  auto brute = std::make_shared<BruteRetriever>(docs, 100);
  auto dense = std::make_shared<densefb::DenseRetriever>(index, nullptr, densefb::DenseRetriever::Config{10, 0});
  densefb::RocchioPrf::Config rocchio;
  rocchio.alpha = 0.5;
  rocchio.beta = 0.5;
  rocchio.topk = 3;
  const densefb::Pipeline prf = brute >> std::make_shared<densefb::RocchioPrf>(index, rocchio) >> dense;
  DENSEFB_ASSIGN_OR_RETURN(densefb::Pipeline fused,
                           densefb::Pipeline::Fuse(std::make_shared<MaxFusion>(), {dense, brute}));
  const densefb::Pipeline reranked = fused >> std::make_shared<NegL2Reranker>(docs);
  const densefb::Pipeline mean = brute >> std::make_shared<MeanTop2>(docs) >> brute;

  // From specs: the same pipelines, once the user's names are registered and the matrix is a
  // resource next to the index.
  DENSEFB_RETURN_IF_ERROR(Register());
  densefb::Resources resources;
  resources.Set<densefb::VectorIndex>(densefb::resource::kDenseIndex, index)
      .Set<RowMatrix>("matrix", docs);

  densefb::PipelineOptions options;
  options.k = 10;
  for (const densefb::Pipeline* p : {&prf, &reranked, &mean}) {
    DENSEFB_ASSIGN_OR_RETURN(BatchRanking from_objects, p->Run(queries, options, &query_vectors));
    DENSEFB_ASSIGN_OR_RETURN(densefb::Pipeline parsed, densefb::Pipeline::Parse(p->ToString(), resources));
    DENSEFB_ASSIGN_OR_RETURN(BatchRanking from_spec, parsed.Run(queries, options, &query_vectors));
    if (parsed.ToString() != p->ToString() || !Same(from_objects, from_spec)) {
      return absl::InternalError(absl::StrCat(p->ToString(), ": objects and spec disagree"));
    }
    Print(p == &prf ? "user retriever >> rocchio >> dense"
                    : p == &reranked ? "fuse(user fusion, dense, user retriever) >> user reranker"
                                     : "user retriever >> user feedback >> user retriever",
          *p, from_objects);
  }
  std::printf("objects and specs agree\n");
  return absl::OkStatus();
}

}  // namespace

int main() {
  const absl::Status status = Main();
  if (!status.ok()) {
    std::fprintf(stderr, "user_roles: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
