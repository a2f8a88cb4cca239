// prf_search: dense retrieval with Rocchio pseudo-relevance feedback over a BEIR folder, using
// an installed densefb (find_package(densefb); targets densefb::densefb and densefb::torch).
//
//   prf_search MODEL_DIR BEIR_DIR [--index FILE] [--max-docs N] [--split NAME] [--k N]
//
// MODEL_DIR: a sentence-transformers / Hugging Face BERT folder (e.g. all-MiniLM-L6-v2).
// BEIR_DIR: corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv.
// --index FILE: load the flat index from FILE if it exists (it must hold the same documents),
//     else build it and save it there.
// --max-docs N: index only the documents judged for the split's queries plus the first
//     documents of the corpus, N in all (0 = the whole corpus; default 0).
// Runs dense retrieval, then Rocchio PRF as one pipeline built two ways (pipeline.h): from
// objects (`dense >> rocchio >> dense`, with DenseRetriever and RocchioPrf) and from the spec
// "dense >> rocchio(...) >> dense" with the index and encoder given as Resources; the two must
// print the same spec and give the same rankings. Prints the first query's top documents and
// nDCG@10 / R@100 of each run. Exit status 1 on error.
// (user_roles.cc shows how to write a retriever, feedback model, reranker and fusion of your own.)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "densefb/data.h"
#include "densefb/eval.h"
#include "densefb/feedback.h"
#include "densefb/flat_index.h"
#include "densefb/indexing.h"
#include "densefb/pipeline.h"
#include "densefb/retrievers.h"
#include "densefb/status.h"
#include "densefb/torch/encoders.h"

namespace {

struct Args {
  std::string model_dir, beir_dir, index_path, split = "test";
  long max_docs = 0;
  int k = 100;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

absl::StatusOr<Args> ParseArgs(int argc, char** argv) {
  Args args;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> absl::StatusOr<std::string> {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(a, " needs a value"));
      return std::string(argv[++i]);
    };
    if (a == "--index") {
      DENSEFB_ASSIGN_OR_RETURN(args.index_path, value());
    } else if (a == "--split") {
      DENSEFB_ASSIGN_OR_RETURN(args.split, value());
    } else if (a == "--max-docs" || a == "--k") {
      DENSEFB_ASSIGN_OR_RETURN(std::string v, value());
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < 0 || (a == "--k" && n == 0)) {
        return absl::InvalidArgumentError(absl::StrCat(a, ": bad value '", v, "'"));
      }
      if (a == "--k") args.k = static_cast<int>(n); else args.max_docs = n;
    } else if (!a.empty() && a[0] == '-') {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", a));
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) {
    return absl::InvalidArgumentError(
        "usage: prf_search MODEL_DIR BEIR_DIR [--index FILE] [--max-docs N] [--split NAME] [--k N]");
  }
  args.model_dir = positional[0];
  args.beir_dir = positional[1];
  return args;
}

// The documents indexed: every document judged for the split (so that every relevant document
// can be found), then the corpus in order, up to max_docs (0 = all).
absl::StatusOr<densefb::Corpus> SelectDocuments(const densefb::BeirDataset& ds, long max_docs) {
  if (max_docs <= 0 || static_cast<std::size_t>(max_docs) >= ds.corpus.size()) return ds.corpus;
  absl::flat_hash_set<std::string> judged;
  for (std::size_t q = 0; q < ds.qrels.num_queries(); ++q) {
    for (const auto& j : ds.qrels.judgments(q)) judged.insert(j.doc_id);
  }
  long others = max_docs - static_cast<long>(judged.size());
  densefb::Corpus out;
  for (const densefb::Document& doc : ds.corpus.documents()) {
    if (judged.contains(doc.id) || others-- > 0) DENSEFB_RETURN_IF_ERROR(out.Add(doc));
  }
  return out;
}

absl::StatusOr<densefb::Run> ToRun(const densefb::SearchResult& result, const densefb::Queries& queries,
                                   const densefb::Corpus& corpus, const std::string& name) {
  DENSEFB_ASSIGN_OR_RETURN(densefb::Run run,
                           densefb::MakeRun(queries.ids().names(), result.ids.data(), result.scores.data(),
                                            result.ids.cols(), corpus.ids().names()));
  run.name = name;
  return run;
}

void PrintTop(const char* what, const densefb::SearchResult& result, const densefb::Corpus& corpus) {
  std::printf("  %s:\n", what);
  for (int r = 0; r < 3 && r < result.ids.cols(); ++r) {
    const std::int64_t id = result.ids(0, r);
    if (id < 0) break;
    const densefb::Document& doc = corpus[static_cast<std::size_t>(id)];
    std::printf("    %d. %-10s %.4f  %.70s\n", r + 1, doc.id.c_str(), result.scores(0, r),
                (doc.title.empty() ? doc.text : doc.title).c_str());
  }
}

absl::Status Main(const Args& args) {
  const auto start = std::chrono::steady_clock::now();
  densefb::BertEncoderConfig config;
  config.model_dir = args.model_dir;
  DENSEFB_ASSIGN_OR_RETURN(std::shared_ptr<const densefb::Encoder> encoder, densefb::MakeBertEncoder(config));
  DENSEFB_ASSIGN_OR_RETURN(densefb::BeirDataset ds, densefb::LoadBeirDataset(args.beir_dir, args.split));
  DENSEFB_ASSIGN_OR_RETURN(densefb::Corpus corpus, SelectDocuments(ds, args.max_docs));
  std::printf("%s: %zu of %zu documents, %zu queries; model %s (dim %d)\n", args.beir_dir.c_str(),
              corpus.size(), ds.corpus.size(), ds.queries.size(), args.model_dir.c_str(),
              encoder->Dimension());

  // The flat index: loaded if saved before, else encoded (in chunks) and saved.
  std::shared_ptr<densefb::FlatIndex> index;
  if (!args.index_path.empty() && std::filesystem::exists(args.index_path)) {
    DENSEFB_ASSIGN_OR_RETURN(index, densefb::FlatIndex::Load(args.index_path));
    if (index->size() != static_cast<std::int64_t>(corpus.size()) || index->dim() != encoder->Dimension()) {
      return absl::FailedPreconditionError(absl::StrCat(
          args.index_path, " holds ", index->size(), " vectors of dimension ", index->dim(), ", not ",
          corpus.size(), " of dimension ", encoder->Dimension(), ": delete it to rebuild"));
    }
    std::printf("loaded %s\n", args.index_path.c_str());
  } else {
    DENSEFB_ASSIGN_OR_RETURN(index, densefb::FlatIndex::Create(encoder->Dimension(),
                                                               densefb::Metric::kInnerProduct));
    std::vector<std::string> texts;
    texts.reserve(corpus.size());
    for (std::size_t i = 0; i < corpus.size(); ++i) texts.push_back(corpus.FullText(i));
    const auto t = std::chrono::steady_clock::now();
    DENSEFB_RETURN_IF_ERROR(densefb::EncodeAndAdd(*encoder, texts, index.get()));
    std::printf("encoded and indexed %zu documents in %.1f s\n", texts.size(), Seconds(t));
    if (!args.index_path.empty()) DENSEFB_RETURN_IF_ERROR(index->Save(args.index_path));
  }

  // Query vectors, then the two runs: dense, and Rocchio PRF (Pyserini's "Rocchio PRF 5
  // A0.4 B0.6": q' = 0.4 q + 0.6 mean(top 5 of the first pass), then a second search).
  std::vector<std::string> query_texts;
  for (const densefb::Query& q : ds.queries.queries()) query_texts.push_back(q.text);
  densefb::RowMatrix queries(static_cast<Eigen::Index>(query_texts.size()), encoder->Dimension());
  DENSEFB_RETURN_IF_ERROR(encoder->EncodeQueries(query_texts, densefb::MutableView(queries)));

  densefb::SearchOptions options;
  options.k = args.k;
  DENSEFB_ASSIGN_OR_RETURN(densefb::SearchResult dense, index->Search(densefb::View(queries), options));

  // Rocchio PRF from objects: the retriever and the feedback model hold the index (and the
  // encoder, for queries that come without vectors) and compose with >>. The first search is
  // planned 5 deep (what rocchio reads; Pipeline::Explain shows the plan).
  auto retriever = std::make_shared<densefb::DenseRetriever>(
      index, encoder, densefb::DenseRetriever::Config{/*k=*/args.k, /*ef_search=*/0});
  densefb::RocchioPrf::Config rocchio_config;
  rocchio_config.alpha = 0.4;
  rocchio_config.beta = 0.6;
  rocchio_config.topk = 5;
  auto rocchio = std::make_shared<densefb::RocchioPrf>(index, rocchio_config, encoder);
  const densefb::Pipeline from_objects = retriever >> rocchio >> retriever;

  // The same pipeline from a spec: the stages take the index and the encoder from Resources
  // by their names ("dense_index", "encoder").
  densefb::Resources resources;
  resources.Set<densefb::VectorIndex>(densefb::resource::kDenseIndex, index)
      .Set<densefb::Encoder>(densefb::resource::kEncoder, encoder);
  DENSEFB_ASSIGN_OR_RETURN(
      densefb::Pipeline from_spec,
      densefb::Pipeline::Parse(absl::StrCat("dense(k=", args.k, ") >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense(k=",
                                            args.k, ")"),
                               resources));
  if (from_objects.ToString() != from_spec.ToString()) {
    return absl::InternalError(absl::StrCat("the two pipelines differ: ", from_objects.ToString(), " vs ",
                                            from_spec.ToString()));
  }
  // The query vectors computed above are passed in, so the texts are not encoded again.
  densefb::PipelineOptions pipeline_options;
  pipeline_options.k = args.k;
  DENSEFB_ASSIGN_OR_RETURN(densefb::BatchRanking objects_ranking,
                           from_objects.Run(ds.queries, pipeline_options, &queries));
  DENSEFB_ASSIGN_OR_RETURN(densefb::BatchRanking spec_ranking, from_spec.Run(ds.queries, pipeline_options, &queries));
  for (std::size_t q = 0; q < objects_ranking.size(); ++q) {
    const densefb::Ranking& a = objects_ranking.lists[q];
    const densefb::Ranking& b = spec_ranking.lists[q];
    bool same = a.size() == b.size();
    for (std::size_t j = 0; same && j < a.size(); ++j) same = a[j].id == b[j].id && a[j].score == b[j].score;
    if (!same) {
      return absl::InternalError(absl::StrCat("query ", ds.queries[q].id, ": the two pipelines rank differently"));
    }
  }
  DENSEFB_ASSIGN_OR_RETURN(densefb::Run objects_run, from_objects.Search(ds.queries, corpus.ids().names(),
                                                                         pipeline_options, &queries));
  DENSEFB_ASSIGN_OR_RETURN(densefb::Run spec_run, from_spec.Search(ds.queries, corpus.ids().names(),
                                                                   pipeline_options, &queries));

  std::printf("query %s: %s\n", ds.queries[0].id.c_str(), ds.queries[0].text.c_str());
  PrintTop("dense", dense, corpus);
  std::printf("  %s:\n", rocchio->ToString().c_str());
  for (std::size_t r = 0; r < 3 && r < objects_ranking.lists[0].size(); ++r) {
    const densefb::ScoredDoc& hit = objects_ranking.lists[0][r];
    const densefb::Document& doc = corpus[static_cast<std::size_t>(hit.id)];
    std::printf("    %zu. %-10s %.4f  %.70s\n", r + 1, doc.id.c_str(), hit.score,
                (doc.title.empty() ? doc.text : doc.title).c_str());
  }
  std::printf("  plan: %s\n", from_objects.Explain().c_str());

  const std::vector<std::string> measures = {"nDCG@10", "R@100"};
  DENSEFB_ASSIGN_OR_RETURN(densefb::Run dense_run, ToRun(dense, ds.queries, corpus, "dense"));
  std::printf("\n%8s %8s  %-12s %s\n", measures[0].c_str(), measures[1].c_str(), "API", "run");
  std::vector<double> ndcg;
  for (const auto& [api, name, run] :
       {std::tuple<const char*, std::string, const densefb::Run*>{"VectorIndex", "dense", &dense_run},
        {"objects", from_objects.ToString(), &objects_run},
        {"spec", from_spec.ToString(), &spec_run}}) {
    DENSEFB_ASSIGN_OR_RETURN(densefb::EvalResult eval, densefb::Evaluate(*run, ds.qrels, measures));
    std::printf("%8.4f %8.4f  %-12s %s\n", eval.mean[0], eval.mean[1], api, name.c_str());
    ndcg.push_back(eval.mean[0]);
  }
  if (ndcg[1] != ndcg[2]) {  // the two ways build the same pipeline
    return absl::InternalError("the pipelines from objects and from the spec disagree");
  }
  std::printf("(%zu queries, %.1f s in all)\n", ds.queries.size(), Seconds(start));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<Args> args = ParseArgs(argc, argv);
  absl::Status status = args.ok() ? Main(*args) : args.status();
  if (!status.ok()) {
    std::fprintf(stderr, "prf_search: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
