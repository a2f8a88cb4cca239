// Live updates of the vector indexes: random sequences of Add / Delete / Update with searches in
// between, against a fresh index built on the current collection; updates from one thread
// while others search; saves interrupted at random points.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "densefb/flat_index.h"
#include "densefb/hnsw_index.h"
#include "test_util.h"

namespace densefb {
namespace {

constexpr int kDim = 24;

// The collection an index should hold: id -> vector.
using Collection = std::map<std::int64_t, std::vector<float>>;

bool Same(const SearchResult& a, const SearchResult& b) {
  return a.ids == b.ids && a.scores.cwiseEqual(b.scores).all();
}

// A flat index of `c`, added in the order of `order` (default: by id). Flat ties go to the
// earlier-added vector, so a fresh build to compare with adds in the live index's row order.
std::unique_ptr<FlatIndex> FreshFlat(const Collection& c, Metric metric, std::vector<std::int64_t> order = {}) {
  auto index = FlatIndex::Create(kDim, metric).value();
  if (order.empty()) {
    for (const auto& entry : c) order.push_back(entry.first);
  }
  REQUIRE(order.size() == c.size());
  RowMatrix m(static_cast<std::int64_t>(c.size()), kDim);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::vector<float>& v = c.at(order[i]);
    std::copy(v.begin(), v.end(), m.row(static_cast<std::int64_t>(i)).data());
  }
  REQUIRE(index->Add(View(m), order).ok());
  return index;
}

// One random step applied to `index` and mirrored in `c`: an add of new ids (some of them
// deleted before), a delete or an update of live ids. Vectors come from `pool`.
class RandomSteps {
 public:
  RandomSteps(std::uint32_t seed, const RowMatrix& pool) : rng_(seed), pool_(pool) {}

  void Step(VectorIndex* index, Collection* c) {
    const int op = c->size() < 20 ? 0 : std::uniform_int_distribution<int>(0, 2)(rng_);
    if (op == 0) {
      const int n = std::uniform_int_distribution<int>(1, 40)(rng_);
      RowMatrix v(n, kDim);
      std::vector<std::int64_t> ids;
      for (int i = 0; i < n; ++i) {
        std::int64_t id = next_id_++;
        if (!deleted_.empty() && rng_() % 3 == 0) {  // an id deleted earlier comes back
          id = *deleted_.begin();
          deleted_.erase(deleted_.begin());
          --next_id_;
        }
        ids.push_back(id);
        v.row(i) = pool_.row(static_cast<std::int64_t>(rng_() % pool_.rows()));
        (*c)[id].assign(v.row(i).data(), v.row(i).data() + kDim);
      }
      REQUIRE(index->Add(View(v), ids).ok());
      return;
    }
    std::vector<std::int64_t> live;
    for (const auto& entry : *c) live.push_back(entry.first);
    std::shuffle(live.begin(), live.end(), rng_);
    live.resize(std::uniform_int_distribution<std::size_t>(1, std::min<std::size_t>(30, live.size() / 2))(rng_));
    if (op == 1) {
      for (std::int64_t id : live) {
        c->erase(id);
        deleted_.insert(id);
      }
      REQUIRE(index->Delete(live).ok());
    } else {
      RowMatrix v(static_cast<std::int64_t>(live.size()), kDim);
      for (std::size_t i = 0; i < live.size(); ++i) {
        v.row(static_cast<std::int64_t>(i)) = pool_.row(static_cast<std::int64_t>(rng_() % pool_.rows()));
        (*c)[live[i]].assign(v.row(static_cast<std::int64_t>(i)).data(),
                             v.row(static_cast<std::int64_t>(i)).data() + kDim);
      }
      REQUIRE(index->Update(View(v), live).ok());
    }
  }

 private:
  std::mt19937 rng_;
  const RowMatrix& pool_;
  std::int64_t next_id_ = 0;
  std::set<std::int64_t> deleted_;
};

// Every stored vector reads back exactly.
void CheckReconstruct(const VectorIndex& index, const Collection& c) {
  std::vector<std::int64_t> ids;
  for (const auto& entry : c) ids.push_back(entry.first);
  RowMatrix out(static_cast<std::int64_t>(ids.size()), kDim);
  REQUIRE(index.Reconstruct(ids, MutableView(out)).ok());
  std::size_t i = 0;
  for (const auto& [id, v] : c) {
    CHECK(std::equal(v.begin(), v.end(), out.row(static_cast<std::int64_t>(i++)).data()));
  }
}

TEST_CASE("Flat: after every random add / delete / update, search equals a fresh build bit for bit") {
  // The fresh build adds the live vectors in the index's row order (deleted rows leave, added
  // ones go last, updated ones stay): what a user rebuilding from the collection would do.
  // Duplicated vectors in the pool make ties, which must break by id as in a fresh build.
  const RowMatrix pool = testing::RandomMatrix(60, kDim, 7);
  const RowMatrix queries = testing::RandomMatrix(12, kDim, 8);
  for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    auto index = FlatIndex::Create(kDim, metric).value();
    Collection c;
    RandomSteps steps(11 + static_cast<int>(metric), pool);
    for (int step = 0; step < 120; ++step) {
      steps.Step(index.get(), &c);
      INFO("step " << step);
      REQUIRE(index->size() == static_cast<std::int64_t>(c.size()));
      const auto fresh = FreshFlat(c, metric, index->ids());
      for (int k : {10, 100}) {
        SearchOptions options;
        options.k = k;
        CHECK(Same(index->Search(View(queries), options).value(), fresh->Search(View(queries), options).value()));
      }
      // A filter shared by every query, over present and deleted ids alike.
      std::vector<std::int64_t> allowed;
      for (std::int64_t id = 0; id < 400; id += 3) allowed.push_back(id);
      const Filter filter = Filter::FromIds(allowed).value();
      SearchOptions filtered;
      filtered.k = 10;
      filtered.filter = &filter;
      CHECK(Same(index->Search(View(queries), filtered).value(), fresh->Search(View(queries), filtered).value()));
    }
    CheckReconstruct(*index, c);
    CHECK(index->num_deleted() == 0);
  }
}

TEST_CASE("Update and delete errors name the id and change nothing") {
  auto index = FlatIndex::Create(4, Metric::kInnerProduct).value();
  const RowMatrix v = testing::RandomMatrix(5, 4, 1);
  REQUIRE(index->Add(View(v)).ok());
  const std::vector<std::int64_t> unknown = {1, 9};
  absl::Status st = index->Delete(unknown);
  CHECK(st.code() == absl::StatusCode::kNotFound);
  CHECK(st.message() == "id 9 (position 1) is not in the index");
  const std::vector<std::int64_t> twice = {2, 2};
  CHECK(index->Delete(twice).code() == absl::StatusCode::kInvalidArgument);
  CHECK(index->size() == 5);
  const RowMatrix one = testing::RandomMatrix(1, 4, 2);
  CHECK(index->Update(View(one), twice).code() == absl::StatusCode::kInvalidArgument);  // 2 ids, 1 row
  RowMatrix bad = one;
  bad(0, 1) = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::int64_t> id3 = {3};
  CHECK(index->Update(View(bad), id3).code() == absl::StatusCode::kInvalidArgument);
  RowMatrix out(1, 4);
  REQUIRE(index->Reconstruct(id3, MutableView(out)).ok());
  CHECK(out.row(0) == v.row(3));
  auto hnsw = HnswIndex::Create(4, Metric::kInnerProduct).value();
  REQUIRE(hnsw->Add(View(v)).ok());
  CHECK(hnsw->Delete(unknown).code() == absl::StatusCode::kNotFound);
  CHECK(hnsw->size() == 5);
  CHECK(hnsw->num_deleted() == 0);
}

HnswConfig SmallGraph() {
  HnswConfig config;
  config.M = 8;
  config.ef_construction = 64;
  config.num_threads = 1;
  return config;
}

TEST_CASE("HNSW: deleted ids never come back, a beam over the whole graph stays exact, slots are reused") {
  const RowMatrix pool = testing::RandomMatrix(400, kDim, 17);
  const RowMatrix queries = testing::RandomMatrix(16, kDim, 18);
  auto index = HnswIndex::Create(kDim, Metric::kCosine, SmallGraph()).value();
  Collection c;
  RandomSteps steps(23, pool);
  double recall_sum = 0;
  int recall_n = 0;
  for (int step = 0; step < 80; ++step) {
    steps.Step(index.get(), &c);
    INFO("step " << step);
    REQUIRE(index->size() == static_cast<std::int64_t>(c.size()));
    const auto exact = FreshFlat(c, Metric::kCosine);
    SearchOptions options;
    options.k = 10;
    const SearchResult want = exact->Search(View(queries), options).value();
    options.ef_search = static_cast<int>(c.size());  // the beam holds every live vector
    const SearchResult whole = index->Search(View(queries), options).value();
    // Exact up to float rounding: HNSW's distance kernel and the flat GEMM sum in different
    // orders, so near-ties may swap.
    for (std::int64_t q = 0; q < want.ids.rows(); ++q) {
      for (std::int64_t j = 0; j < want.ids.cols(); ++j) {
        if (whole.ids(q, j) != want.ids(q, j)) CHECK(std::abs(whole.scores(q, j) - want.scores(q, j)) <= 1e-5f);
      }
    }
    options.ef_search = 32;
    const SearchResult got = index->Search(View(queries), options).value();
    for (std::int64_t q = 0; q < got.ids.rows(); ++q) {
      std::set<std::int64_t> truth(want.ids.row(q).data(), want.ids.row(q).data() + want.ids.cols());
      for (std::int64_t j = 0; j < got.ids.cols(); ++j) {
        const std::int64_t id = got.ids(q, j);
        REQUIRE(c.count(id) == 1);  // only live ids, never a deleted one
        recall_sum += truth.count(id);
      }
      recall_n += static_cast<int>(truth.size());
    }
  }
  CHECK(recall_sum / recall_n >= 0.95);
  CheckReconstruct(*index, c);
  // Slots were reused: the graph holds fewer rows than ids ever added.
  CHECK(index->num_deleted() < 200);

  SECTION("a save with deleted rows round-trips (format version 2)") {
    const std::string dir = testing::TempDir("live_hnsw_save");
    REQUIRE(index->Save(dir + "/a.hnsw").ok());
    auto loaded = HnswIndex::Load(dir + "/a.hnsw").value();
    CHECK(loaded->num_deleted() == index->num_deleted());
    CHECK(loaded->size() == index->size());
    SearchOptions options;
    options.k = 10;
    options.ef_search = 32;
    CHECK(Same(loaded->Search(View(queries), options).value(), index->Search(View(queries), options).value()));
    // The loaded index reuses its free slots too.
    const std::int64_t free_slots = loaded->num_deleted();
    const std::vector<std::int64_t> new_id = {100000};
    REQUIRE(loaded->Add(View(testing::RandomMatrix(1, kDim, 5)), new_id).ok());
    CHECK(loaded->num_deleted() == std::max<std::int64_t>(free_slots - 1, 0));
  }
  SECTION("compaction frees the deleted rows; a beam over the new graph is exact") {
    REQUIRE(index->num_deleted() > 0);
    REQUIRE(index->Compact().ok());
    CHECK(index->num_deleted() == 0);
    CHECK(index->size() == static_cast<std::int64_t>(c.size()));
    CheckReconstruct(*index, c);
    SearchOptions options;
    options.k = 10;
    options.ef_search = static_cast<int>(c.size());
    const SearchResult got = index->Search(View(queries), options).value();
    const SearchResult want = FreshFlat(c, Metric::kCosine)->Search(View(queries), options).value();
    CHECK(got.scores.isApprox(want.scores, 1e-5f));
  }
}

// `ops` run one by one from a writer thread while 3 readers search; every result a reader sees
// must be the sequential result after some prefix of the ops (`after[m]`).
void CheckDuringSearch(VectorIndex* index, const std::vector<std::function<void(VectorIndex*)>>& ops,
                       const RowMatrix& queries, const std::vector<SearchResult>& after,
                       const SearchOptions& options) {
  std::atomic<bool> writing{true};
  std::atomic<int> unexplained{0}, searches{0}, failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      do {
        auto r = index->Search(View(queries), options);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        ++searches;
        bool explained = false;
        for (const SearchResult& a : after) explained = explained || Same(*r, a);
        if (!explained) ++unexplained;
      } while (writing);
    });
  }
  for (const auto& op : ops) op(index);
  writing = false;
  for (auto& th : readers) th.join();
  CHECK(failures == 0);
  CHECK(unexplained == 0);
  CHECK(searches >= 3);
}

TEST_CASE("Deletes and updates from one thread while others search: every result is that of a prefix") {
  const RowMatrix base = testing::RandomMatrix(600, 16, 31);
  const RowMatrix queries = testing::RandomMatrix(10, 16, 32);
  std::vector<std::function<void(VectorIndex*)>> ops;
  for (int b = 0; b < 10; ++b) {
    ops.push_back([b](VectorIndex* index) {
      std::vector<std::int64_t> ids;
      for (int i = 0; i < 20; ++i) ids.push_back(b * 60 + i);
      REQUIRE(index->Delete(ids).ok());
    });
    ops.push_back([b](VectorIndex* index) {
      std::vector<std::int64_t> ids;
      for (int i = 30; i < 40; ++i) ids.push_back(b * 60 + i);
      REQUIRE(index->Update(View(testing::RandomMatrix(10, 16, 500 + b)), ids).ok());
    });
  }
  SearchOptions options;
  options.k = 10;
  options.num_threads = 1;
  options.ef_search = 32;
  auto run = [&](auto make) {
    auto reference = make();
    REQUIRE(reference->Add(View(base)).ok());
    std::vector<SearchResult> after = {reference->Search(View(queries), options).value()};
    for (const auto& op : ops) {
      op(reference.get());
      after.push_back(reference->Search(View(queries), options).value());
    }
    auto index = make();
    REQUIRE(index->Add(View(base)).ok());
    CheckDuringSearch(index.get(), ops, queries, after, options);
  };
  SECTION("flat") { run([] { return FlatIndex::Create(16, Metric::kCosine).value(); }); }
  SECTION("hnsw") { run([] { return HnswIndex::Create(16, Metric::kInnerProduct, SmallGraph()).value(); }); }
}

template <typename Body>
int InChild(Body body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(body());
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

TEST_CASE("A save after updates interrupted at a random point leaves the previous file intact") {
  const std::string dir = testing::TempDir("live_interrupted_save");
  const RowMatrix pool = testing::RandomMatrix(300, kDim, 41);
  const RowMatrix queries = testing::RandomMatrix(8, kDim, 42);
  SearchOptions options;
  options.k = 10;
  options.ef_search = 64;
  auto check = [&](VectorIndex* index, auto load, const std::string& path) {
    Collection c;
    RandomSteps steps(43, pool);
    for (int i = 0; i < 20; ++i) steps.Step(index, &c);
    REQUIRE(index->Save(path).ok());
    const SearchResult before = index->Search(View(queries), options).value();
    const auto saved_bytes = std::filesystem::file_size(path);
    for (int i = 0; i < 20; ++i) steps.Step(index, &c);
    const SearchResult after = index->Search(View(queries), options).value();
    REQUIRE_FALSE(Same(before, after));
    std::mt19937 rng(44);
    for (int trial = 0; trial < 8; ++trial) {
      // The file system refuses the write after a random number of bytes.
      const rlim_t limit = std::uniform_int_distribution<rlim_t>(0, saved_bytes - 1)(rng);
      const int status = InChild([&] {
        ::signal(SIGXFSZ, SIG_IGN);
        const rlimit cap{limit, limit};
        if (::setrlimit(RLIMIT_FSIZE, &cap) != 0) return 2;
        return index->Save(path).ok() ? 1 : 0;
      });
      REQUIRE(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 0);
      CHECK(Same(load(path)->Search(View(queries), options).value(), before));
    }
    for (int trial = 0; trial < 6; ++trial) {
      // The process dies (SIGKILL) at a random moment of a save: the file holds the old or the
      // new index, whole.
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        for (;;) (void)index->Save(path);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
      ::kill(pid, SIGKILL);
      int status = 0;
      REQUIRE(::waitpid(pid, &status, 0) == pid);
      const SearchResult r = load(path)->Search(View(queries), options).value();
      CHECK((Same(r, before) || Same(r, after)));
    }
  };
  SECTION("flat") {
    auto index = FlatIndex::Create(kDim, Metric::kInnerProduct).value();
    check(index.get(), [](const std::string& p) { return FlatIndex::Load(p).value(); }, dir + "/index.flat");
  }
  SECTION("hnsw") {
    auto index = HnswIndex::Create(kDim, Metric::kInnerProduct, SmallGraph()).value();
    check(index.get(), [](const std::string& p) { return HnswIndex::Load(p).value(); }, dir + "/index.hnsw");
  }
}

}  // namespace
}  // namespace densefb
