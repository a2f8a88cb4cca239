// Bindings of include/densefb/tokenizer.h: the compiled WordPieceTokenizer behind
// densefb.Tokenizer (python/densefb/tokenizer.py).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "densefb/tokenizer.h"

namespace densefb::py_bindings {
namespace {

// UTF-8 views of a sequence of str (kept alive by `owners`), read while the GIL is held.
// PyUnicode_AsUTF8AndSize caches the UTF-8 form inside each str object, so no copy is made.
std::vector<absl::string_view> TextViews(const py::handle& texts, const char* what,
                                         std::vector<py::object>* owners) {
  if (py::isinstance<py::str>(texts) || py::isinstance<py::bytes>(texts)) {
    throw py::type_error(std::string(what) + " must be a list of str, not a single string");
  }
  const py::sequence seq = py::reinterpret_borrow<py::sequence>(texts);
  const auto n = static_cast<std::size_t>(py::len(seq));
  std::vector<absl::string_view> views;
  views.reserve(n);
  owners->reserve(owners->size() + n);
  for (std::size_t i = 0; i < n; ++i) {
    py::object item = seq[i];
    if (!PyUnicode_Check(item.ptr())) {
      throw py::type_error(std::string(what) + "[" + std::to_string(i) + "] must be str, got " +
                           std::string(Py_TYPE(item.ptr())->tp_name));
    }
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(item.ptr(), &size);
    if (data == nullptr) throw py::error_already_set();  // e.g. a lone surrogate
    views.emplace_back(data, static_cast<std::size_t>(size));
    owners->push_back(std::move(item));
  }
  return views;
}

absl::string_view TextView(const py::str& text) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
  if (data == nullptr) throw py::error_already_set();
  return {data, static_cast<std::size_t>(size)};
}

// A (rows, cols) int64 array owning `v` (no copy).
py::array_t<std::int64_t> Matrix(std::vector<std::int64_t>&& v, std::int64_t rows,
                                 std::int64_t cols) {
  if (v.empty()) return py::array_t<std::int64_t>(std::vector<py::ssize_t>{rows, cols});
  auto* owned = new std::vector<std::int64_t>(std::move(v));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<std::int64_t>*>(p); });
  return py::array_t<std::int64_t>(std::vector<py::ssize_t>{rows, cols}, owned->data(), owner);
}

py::list ToList(const std::vector<std::int64_t>& v) {
  py::list out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = py::int_(v[i]);
  return out;
}

py::object OptionalId(std::int64_t id) {
  return id < 0 ? py::object(py::none()) : py::object(py::int_(id));
}

}  // namespace

void RegisterTokenizer(py::module_& m) {
  py::class_<WordPieceTokenizer>(m, "WordPieceTokenizer", R"doc(
BERT WordPiece tokenizer identical to Hugging Face tokenizers' BertTokenizerFast (compiled core
of densefb.Tokenizer; use that class). Const methods are thread-safe; batch work releases the GIL.
)doc")
      .def_static("from_directory", [](const py::object& dir) {
             const std::string d = PathArg(dir);
             return ValueOrThrow(WithoutGil([&] { return WordPieceTokenizer::FromDirectory(d); }));
           }, py::arg("path"),
           "Loads a Hugging Face tokenizer folder: tokenizer.json, else vocab.txt +\n"
           "tokenizer_config.json. FileNotFoundError if neither exists, NotImplementedError for a\n"
           "tokenizer that is not BERT WordPiece, ValueError for malformed files.")
      .def_static("from_tokenizer_json", [](const py::object& path, const py::object& config) {
             const std::string p = PathArg(path);
             const std::string c = config.is_none() ? std::string() : PathArg(config);
             return ValueOrThrow(
                 WithoutGil([&] { return WordPieceTokenizer::FromTokenizerJson(p, c); }));
           }, py::arg("path"), py::arg("tokenizer_config") = py::none(),
           "Loads a tokenizer.json (and optionally the tokenizer_config.json beside it).")
      .def("encode", [](const WordPieceTokenizer& t, const py::str& text, std::int64_t max_length,
                        bool add_special_tokens) {
             const absl::string_view v = TextView(text);
             Encoding e = ValueOrThrow(
                 WithoutGil([&] { return t.Encode(v, max_length, add_special_tokens); }));
             return ToList(e.ids);
           }, py::arg("text"), py::arg("max_length") = 0, py::arg("add_special_tokens") = true,
           "Token ids of one text ([CLS] ... [SEP]); max_length 0: no truncation.")
      .def("encode_pair", [](const WordPieceTokenizer& t, const py::str& a, const py::str& b,
                             std::int64_t max_length, bool add_special_tokens) {
             const absl::string_view va = TextView(a), vb = TextView(b);
             Encoding e = ValueOrThrow(
                 WithoutGil([&] { return t.EncodePair(va, vb, max_length, add_special_tokens); }));
             return py::make_tuple(ToList(e.ids), ToList(e.type_ids));
           }, py::arg("a"), py::arg("b"), py::arg("max_length") = 0,
           py::arg("add_special_tokens") = true,
           "(ids, token_type_ids) of [CLS] a [SEP] b [SEP], longest_first truncation.")
      .def("encode_batch", [](const WordPieceTokenizer& t, const py::object& texts,
                              const py::object& pairs, std::int64_t max_length,
                              bool add_special_tokens, std::int64_t pad_to_multiple_of,
                              int num_threads) {
             std::vector<py::object> owners;
             const std::vector<absl::string_view> first = TextViews(texts, "texts", &owners);
             std::vector<absl::string_view> second;
             if (!pairs.is_none()) second = TextViews(pairs, "pairs", &owners);
             BatchOptions options;
             options.max_length = max_length;
             options.add_special_tokens = add_special_tokens;
             options.pad_to_multiple_of = pad_to_multiple_of;
             options.num_threads = num_threads;
             BatchEncoding batch;
             ThrowIfError(WithoutGil([&] {
               return pairs.is_none() ? t.EncodeBatch(first, options, &batch)
                                      : t.EncodeBatchPairs(first, second, options, &batch);
             }));
             const std::int64_t rows = batch.rows, cols = batch.cols;
             return py::make_tuple(Matrix(std::move(batch.input_ids), rows, cols),
                                   Matrix(std::move(batch.attention_mask), rows, cols),
                                   Matrix(std::move(batch.token_type_ids), rows, cols));
           }, py::arg("texts"), py::arg("pairs") = py::none(), py::arg("max_length") = 0,
           py::arg("add_special_tokens") = true, py::arg("pad_to_multiple_of") = 0,
           py::arg("num_threads") = 1,
           "(input_ids, attention_mask, token_type_ids): int64 (n, longest) arrays, right-padded.")
      .def("tokenize", [](const WordPieceTokenizer& t, const py::str& text) {
             const absl::string_view v = TextView(text);
             return ValueOrThrow(WithoutGil([&] { return t.Tokenize(v); }));
           }, py::arg("text"), "Token strings of a text, without special tokens.")
      .def("normalize", [](const WordPieceTokenizer& t, const py::str& text) {
             return ValueOrThrow(t.Normalize(TextView(text)));
           }, py::arg("text"), "The BertNormalizer output of a text.")
      .def("pre_tokenize", [](const WordPieceTokenizer& t, const py::str& text) {
             return ValueOrThrow(t.PreTokenize(TextView(text)));
           }, py::arg("text"), "The normalized words of a text, before WordPiece.")
      .def("token_to_id", [](const WordPieceTokenizer& t, const std::string& token) {
             return OptionalId(t.TokenToId(token));
           }, py::arg("token"), "Id of a token, or None.")
      .def("id_to_token", [](const WordPieceTokenizer& t, std::int64_t id) {
             return ValueOrThrow(t.IdToToken(id));
           }, py::arg("id"), "Token of an id; IndexError if unknown.")
      .def("num_special_tokens", &WordPieceTokenizer::num_special_tokens, py::arg("pair") = false)
      .def_property_readonly("vocab_size", &WordPieceTokenizer::vocab_size)
      .def_property_readonly("num_ids", &WordPieceTokenizer::num_ids)
      .def_property_readonly("model_max_length", [](const WordPieceTokenizer& t) {
             return t.model_max_length() > 0 ? py::object(py::int_(t.model_max_length()))
                                             : py::object(py::none());
           })
      .def_property_readonly("cls_token_id", [](const WordPieceTokenizer& t) { return OptionalId(t.cls_id()); })
      .def_property_readonly("sep_token_id", [](const WordPieceTokenizer& t) { return OptionalId(t.sep_id()); })
      .def_property_readonly("pad_token_id", [](const WordPieceTokenizer& t) { return OptionalId(t.pad_id()); })
      .def_property_readonly("mask_token_id", [](const WordPieceTokenizer& t) { return OptionalId(t.mask_id()); })
      .def_property_readonly("unk_token_id", [](const WordPieceTokenizer& t) { return OptionalId(t.unk_id()); })
      .def_property_readonly("do_lower_case", [](const WordPieceTokenizer& t) { return t.options().lowercase; })
      .def_property_readonly("strip_accents", [](const WordPieceTokenizer& t) {
             return t.options().effective_strip_accents();
           })
      .def_property_readonly("added_tokens", [](const WordPieceTokenizer& t) {
             py::dict out;
             for (const AddedToken& a : t.added_tokens()) out[py::str(a.content)] = a.id;
             return out;
           }, "{content: id} of the added tokens matched before WordPiece.");
}

}  // namespace densefb::py_bindings
