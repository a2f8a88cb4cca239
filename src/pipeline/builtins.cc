// The built-in stages and fusion methods in the registry: each name builds the public type that
// implements it, with the parameters of that type's table and the resources named here.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "densefb/bm25.h"
#include "densefb/feedback.h"
#include "densefb/fusion.h"
#include "densefb/multivector.h"
#include "densefb/pipeline.h"
#include "densefb/rerankers.h"
#include "densefb/retrievers.h"
#include "pipeline/internal.h"

namespace densefb::pipeline_internal {
namespace {

namespace res = resource;

template <typename T>
StageInfo Info(const ParamTable<typename T::Config>& table, const char* help,
               std::vector<std::string> resources) {
  StageInfo info;
  info.name = table.stage();
  info.help = help;
  info.params = table.Info();
  info.resources = std::move(resources);
  return info;
}

template <typename Options>
StageInfo FusionInfo(const ParamTable<Options>& table, const char* help) {
  StageInfo info;
  info.name = table.stage();
  info.role = StageRole::kFusion;
  info.help = help;
  info.params = table.Info();
  return info;
}

// Reads T's config from the arguments, then builds T with `make(config)`.
template <typename Role, typename T, typename Make>
auto Factory(Make make) {
  return [make](StageArgs& args, const Resources& r) -> absl::StatusOr<std::shared_ptr<const Role>> {
    typename T::Config config;
    DENSEFB_RETURN_IF_ERROR(T::Params().Read(args, &config));
    return std::shared_ptr<const Role>(make(std::move(config), r));
  };
}

template <typename Options, typename T>
FusionFactory MakeFusionFactory(const ParamTable<Options>& table, Options defaults = {}) {
  return [&table, defaults](StageArgs& args, std::size_t) -> absl::StatusOr<std::shared_ptr<const Fusion>> {
    Options o = defaults;
    DENSEFB_RETURN_IF_ERROR(table.Read(args, &o));
    return std::shared_ptr<const Fusion>(std::make_shared<T>(std::move(o)));
  };
}

void Check(const absl::Status& s) {
  (void)s;  // names are distinct; the registry is empty when the built-ins are added
}

}  // namespace

void RegisterBuiltins() {
  // ---- retrievers ----
  Check(AddRetriever(
      Info<DenseRetriever>(DenseRetriever::Params(),
                           "top-k by the dense index for the current query vector (the encoder's encoding "
                           "of the query text until a feedback model replaces it)",
                           {res::kDenseIndex, res::kEncoder}),
      Factory<Retriever, DenseRetriever>([](DenseRetriever::Config c, const Resources& r) {
        return std::make_shared<DenseRetriever>(r.Get<VectorIndex>(res::kDenseIndex), r.Get<Encoder>(res::kEncoder), c);
      })));
  Check(AddRetriever(
      Info<Bm25Retriever>(Bm25Retriever::Params(),
                          "top-k BM25 for the query text, or the weighted query a feedback model (rm3) made",
                          {res::kBm25}),
      Factory<Retriever, Bm25Retriever>([](Bm25Retriever::Config c, const Resources& r) {
        return std::make_shared<Bm25Retriever>(r.GetAny<Bm25Collection, Bm25Index>(res::kBm25), c);
      })));
  Check(AddRetriever(
      Info<MaxSimRetriever>(MaxSimRetriever::Params(),
                            "end-to-end late interaction: the documents of the token_k nearest document tokens "
                            "of every query token, scored by exact MaxSim",
                            {res::kMultiVector, res::kTokenEncoder}),
      Factory<Retriever, MaxSimRetriever>([](MaxSimRetriever::Config c, const Resources& r) {
        return std::make_shared<MaxSimRetriever>(r.GetAny<TokenCollection, MultiVectorIndex>(res::kMultiVector),
                                                 r.Get<TokenEncoder>(res::kTokenEncoder), c);
      })));

  // ---- feedback models ----
  Check(AddFeedbackModel(
      Info<AveragePrf>(AveragePrf::Params(), "Average vector PRF: q' = (q + d_1 + ... + d_k) / (k + 1)",
                       {res::kDenseIndex, res::kEncoder}),
      Factory<FeedbackModel, AveragePrf>([](AveragePrf::Config c, const Resources& r) {
        return std::make_shared<AveragePrf>(r.Get<VectorIndex>(res::kDenseIndex), c, r.Get<Encoder>(res::kEncoder));
      })));
  Check(AddFeedbackModel(
      Info<RocchioPrf>(RocchioPrf::Params(),
                       "Rocchio vector PRF as Pyserini: q' = alpha q + beta mean(positives) - gamma mean(negatives)",
                       {res::kDenseIndex, res::kEncoder}),
      Factory<FeedbackModel, RocchioPrf>([](RocchioPrf::Config c, const Resources& r) {
        return std::make_shared<RocchioPrf>(r.Get<VectorIndex>(res::kDenseIndex), c, r.Get<Encoder>(res::kEncoder));
      })));
  Check(AddFeedbackModel(
      Info<TextPrf>(TextPrf::Params(),
                    "ANCE-PRF style text feedback: query [SEP] p_1 [SEP] ... p_k, encoded as the new query vector",
                    {res::kCorpus, res::kEncoder}),
      Factory<FeedbackModel, TextPrf>([](TextPrf::Config c, const Resources& r) {
        return std::make_shared<TextPrf>(r.Get<Corpus>(res::kCorpus), r.Get<Encoder>(res::kEncoder), std::move(c));
      })));
  Check(AddFeedbackModel(
      Info<Rm3>(Rm3::Params(), "RM3 expansion of the weighted BM25 query from the ranking; bm25 then searches with it",
                {res::kBm25}),
      Factory<FeedbackModel, Rm3>([](Rm3::Config c, const Resources& r) {
        return std::make_shared<Rm3>(r.GetAny<Bm25Collection, Bm25Index>(res::kBm25), std::move(c));
      })));
  Check(AddFeedbackModel(
      Info<ColbertPrfFeedback>(ColbertPrfFeedback::Params(),
                               "ColBERT-PRF: k-means over the feedback documents' token embeddings; the fb_embs "
                               "centroids of highest IDF appended to the token query with weight beta*idf",
                               {res::kMultiVector, res::kTokenEncoder, res::kCorpus}),
      Factory<FeedbackModel, ColbertPrfFeedback>([](ColbertPrfFeedback::Config c, const Resources& r) {
        return std::make_shared<ColbertPrfFeedback>(r.GetAny<TokenCollection, MultiVectorIndex>(res::kMultiVector),
                                                    r.Get<TokenEncoder>(res::kTokenEncoder),
                                                    r.Get<Corpus>(res::kCorpus), c);
      })));

  // ---- rerankers ----
  Check(AddReranker(
      Info<Rescore>(Rescore::Params(),
                    "re-scores the candidates with the current query vector by the index metric "
                    "(after avg/rocchio: the Vector-PRF 'ranking' setting)",
                    {res::kDenseIndex, res::kEncoder}),
      Factory<Reranker, Rescore>([](Rescore::Config c, const Resources& r) {
        return std::make_shared<Rescore>(r.Get<VectorIndex>(res::kDenseIndex), r.Get<Encoder>(res::kEncoder), c);
      })));
  Check(AddReranker(
      Info<CrossEncoderRerank>(CrossEncoderRerank::Params(),
                               "cross-encoder scores of the first k candidates; the ranking keeps those k, re-sorted",
                               {res::kCorpus, res::kCrossEncoder}),
      Factory<Reranker, CrossEncoderRerank>([](CrossEncoderRerank::Config c, const Resources& r) {
        return std::make_shared<CrossEncoderRerank>(r.Get<Corpus>(res::kCorpus),
                                                    r.Get<PairScorer>(res::kCrossEncoder), c);
      })));
  Check(AddReranker(
      Info<MaxSimReranker>(MaxSimReranker::Params(),
                           "re-scores the ranking by exact MaxSim of the current token queries; documents not "
                           "in the multi-vector index are encoded from the corpus",
                           {res::kMultiVector, res::kTokenEncoder, res::kCorpus}),
      Factory<Reranker, MaxSimReranker>([](MaxSimReranker::Config c, const Resources& r) {
        return std::make_shared<MaxSimReranker>(r.GetAny<TokenCollection, MultiVectorIndex>(res::kMultiVector),
                                                r.Get<TokenEncoder>(res::kTokenEncoder),
                                                r.Get<Corpus>(res::kCorpus), c);
      })));
  Check(AddReranker(Info<Cut>(Cut::Params(), "keeps the first k documents of the ranking", {}),
                    [](StageArgs& args, const Resources&) -> absl::StatusOr<std::shared_ptr<const Reranker>> {
                      if (!args.Has("k")) {
                        (void)args.GetInt("k", 0);  // listed as accepted
                        return absl::InvalidArgumentError("stage 'cut' needs k, e.g. cut(k=100)");
                      }
                      Cut::Config c;
                      DENSEFB_RETURN_IF_ERROR(Cut::Params().Read(args, &c));
                      return std::shared_ptr<const Reranker>(std::make_shared<Cut>(c));
                    }));

  // ---- fusion methods ----
  Check(AddFusion(FusionInfo(RrfFusion::Params(), "reciprocal rank fusion: sum_i w_i / (k + rank_i(d))"),
                  MakeFusionFactory<RrfOptions, RrfFusion>(RrfFusion::Params())));
  const char* interpolate_help = "sum_i w_i * norm_i(s_i(d)); a document missing from list i contributes `missing`";
  Check(AddFusion(FusionInfo(InterpolationFusion::Params(), interpolate_help),
                  MakeFusionFactory<InterpolationOptions, InterpolationFusion>(InterpolationFusion::Params())));
  StageInfo alias = FusionInfo(InterpolationFusion::Params(), "another name of interpolate");
  alias.name = "interpolation";
  Check(AddFusion(std::move(alias),
                  MakeFusionFactory<InterpolationOptions, InterpolationFusion>(InterpolationFusion::Params())));
  const char* comb_help[] = {"CombSUM: sum of w_i * norm_i(s) over the lists containing d",
                             "CombMNZ: CombSUM times the number of lists containing d",
                             "CombMAX: max of w_i * norm_i(s) over the lists containing d"};
  for (CombRule rule : {CombRule::kSum, CombRule::kMnz, CombRule::kMax}) {
    CombOptions defaults;
    defaults.rule = rule;
    Check(AddFusion(FusionInfo(CombFusion::Params(rule), comb_help[static_cast<int>(rule)]),
                    MakeFusionFactory<CombOptions, CombFusion>(CombFusion::Params(rule), defaults)));
  }
  Check(AddFusion(FusionInfo(BordaFusion::Params(),
                             "Borda count as ranx's bordafuse: C - rank + 1 points, (C - |L| + 1) / 2 when absent"),
                  MakeFusionFactory<BordaOptions, BordaFusion>(BordaFusion::Params())));

  RegisterLlmRerankers();
  RegisterLlmFeedback();
  RegisterSelectivePrf();
}

}  // namespace densefb::pipeline_internal
