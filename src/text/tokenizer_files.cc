// Building a WordPieceTokenizer from the files of a model: tokenizer.json,
// tokenizer_config.json, special_tokens_map.json and vocab.txt (see include/densefb/tokenizer.h).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "densefb/file_format.h"
#include "densefb/tokenizer.h"
#include "text/utf8.h"
#include "text/wordpiece_impl.h"

namespace densefb {

using namespace text_internal;  // NOLINT(build/namespaces): the tokenizer's own internals

namespace {

using Json = nlohmann::json;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(path));
  std::error_code ec;
  if (!fs::exists(path, ec)) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  if (fs::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, expected a file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot be read"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return ss.str();
}

absl::StatusOr<Json> ReadJson(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  try {
    Json j = Json::parse(text);
    if (!j.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": expected a JSON object, got ", j.type_name()));
    }
    return j;
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed JSON: ", e.what()));
  }
}

absl::Status Bad(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}
absl::Status Unsupported(const std::string& path, absl::string_view what) {
  return absl::UnimplementedError(
      absl::StrCat(path, ": ", what, " is not supported (densefb reproduces BERT WordPiece "
                                     "tokenizers only)"));
}

// Reads an optional bool field; null or absent leaves *out unchanged.
absl::Status OptionalBool(const Json& obj, const char* key, const std::string& path,
                          absl::string_view where, std::optional<bool>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) {
    return Bad(path, absl::StrCat(where, key, " must be true, false or null, got ", it->dump()));
  }
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status BoolField(const Json& obj, const char* key, const std::string& path,
                       absl::string_view where, bool* out) {
  std::optional<bool> v;
  DENSEFB_RETURN_IF_ERROR(OptionalBool(obj, key, path, where, &v));
  if (v) *out = *v;
  return absl::OkStatus();
}

// A special token given as "text" or {"content": "text", ...}; absent or null leaves *out.
absl::Status TokenField(const Json& obj, const char* key, const std::string& path,
                        std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (it->is_string()) {
    *out = it->get<std::string>();
    return absl::OkStatus();
  }
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) {
      *out = c->get<std::string>();
      return absl::OkStatus();
    }
  }
  return Bad(path, absl::StrCat("\"", key, "\" must be a string or {\"content\": ...}, got ",
                                it->dump()));
}

// Settings of tokenizer_config.json (all optional).
struct TokenizerConfig {
  std::string path;
  std::optional<bool> do_lower_case, strip_accents, tokenize_chinese_chars;
  bool strip_accents_given = false;  // strip_accents present (null counts as given)
  std::int64_t model_max_length = 0;
  std::string tokenizer_class;
  std::vector<AddedToken> added_tokens_decoder;
  std::vector<std::string> additional_special_tokens;
};

absl::Status ApplySpecialNames(const Json& j, const std::string& path, WordPieceOptions* o) {
  DENSEFB_RETURN_IF_ERROR(TokenField(j, "unk_token", path, &o->unk_token));
  DENSEFB_RETURN_IF_ERROR(TokenField(j, "cls_token", path, &o->cls_token));
  DENSEFB_RETURN_IF_ERROR(TokenField(j, "sep_token", path, &o->sep_token));
  DENSEFB_RETURN_IF_ERROR(TokenField(j, "pad_token", path, &o->pad_token));
  DENSEFB_RETURN_IF_ERROR(TokenField(j, "mask_token", path, &o->mask_token));
  return absl::OkStatus();
}

absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(const Json& j, const std::string& path,
                                                     WordPieceOptions* options);

absl::StatusOr<TokenizerConfig> ReadTokenizerConfig(const std::string& path,
                                                    WordPieceOptions* options) {
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(path));
  try {
    return ParseTokenizerConfig(j, path, options);
  } catch (const Json::exception& e) {
    return Bad(path, absl::StrCat("unexpected content: ", e.what()));
  }
}

absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(const Json& j, const std::string& path,
                                                     WordPieceOptions* options) {
  TokenizerConfig c;
  c.path = path;
  DENSEFB_RETURN_IF_ERROR(OptionalBool(j, "do_lower_case", path, "", &c.do_lower_case));
  DENSEFB_RETURN_IF_ERROR(OptionalBool(j, "strip_accents", path, "", &c.strip_accents));
  c.strip_accents_given = j.contains("strip_accents");
  DENSEFB_RETURN_IF_ERROR(
      OptionalBool(j, "tokenize_chinese_chars", path, "", &c.tokenize_chinese_chars));
  if (auto it = j.find("model_max_length"); it != j.end() && !it->is_null()) {
    if (!it->is_number()) return Bad(path, "model_max_length must be a number");
    const double v = it->get<double>();
    // transformers writes 1e30 (VERY_LARGE_INTEGER) for "no limit".
    c.model_max_length = (v >= 1 && v < 1e15) ? static_cast<std::int64_t>(v) : 0;
  }
  if (auto it = j.find("tokenizer_class"); it != j.end() && it->is_string()) {
    c.tokenizer_class = it->get<std::string>();
  }
  if (auto it = j.find("added_tokens_decoder"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Bad(path, "added_tokens_decoder must be an object");
    for (const auto& [key, value] : it->items()) {
      AddedToken t;
      try {
        std::size_t used = 0;
        t.id = std::stoll(key, &used);
        if (used != key.size()) throw std::invalid_argument(key);
      } catch (const std::exception&) {
        return Bad(path, absl::StrCat("added_tokens_decoder key \"", key, "\" is not an id"));
      }
      if (!value.is_object() || !value.contains("content") || !value["content"].is_string()) {
        return Bad(path, absl::StrCat("added_tokens_decoder[\"", key, "\"] has no content"));
      }
      t.content = value["content"].get<std::string>();
      const std::string where = absl::StrCat("added_tokens_decoder[\"", key, "\"].");
      DENSEFB_RETURN_IF_ERROR(BoolField(value, "special", path, where, &t.special));
      DENSEFB_RETURN_IF_ERROR(BoolField(value, "normalized", path, where, &t.normalized));
      DENSEFB_RETURN_IF_ERROR(BoolField(value, "lstrip", path, where, &t.lstrip));
      DENSEFB_RETURN_IF_ERROR(BoolField(value, "rstrip", path, where, &t.rstrip));
      bool single_word = false;
      DENSEFB_RETURN_IF_ERROR(BoolField(value, "single_word", path, where, &single_word));
      if (single_word) return Unsupported(path, absl::StrCat(where, "single_word = true"));
      c.added_tokens_decoder.push_back(std::move(t));
    }
    std::sort(c.added_tokens_decoder.begin(), c.added_tokens_decoder.end(),
              [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  }
  if (auto it = j.find("additional_special_tokens"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return Bad(path, "additional_special_tokens must be a list");
    for (const auto& v : *it) {
      if (v.is_string()) {
        c.additional_special_tokens.push_back(v.get<std::string>());
      } else if (v.is_object() && v.contains("content") && v["content"].is_string()) {
        c.additional_special_tokens.push_back(v["content"].get<std::string>());
      } else {
        return Bad(path, "additional_special_tokens entries must be strings");
      }
    }
  }
  DENSEFB_RETURN_IF_ERROR(ApplySpecialNames(j, path, options));
  options->model_max_length = c.model_max_length;
  return c;
}

// special_tokens_map.json: names of the special tokens (they override tokenizer_config.json's,
// as in transformers).
absl::Status ReadSpecialTokensMap(const std::string& path, WordPieceOptions* options) {
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(path));
  return ApplySpecialNames(j, path, options);
}

bool IsBertTokenizerClass(absl::string_view name) {
  static const char* const kClasses[] = {"BertTokenizer", "DistilBertTokenizer",
                                         "ElectraTokenizer", "MobileBertTokenizer",
                                         "SqueezeBertTokenizer"};
  for (const char* c : kClasses) {
    if (name == c || name == absl::StrCat(c, "Fast")) return true;
  }
  return false;
}

// Special-token ids every BERT tokenizer needs; errors name `source`.
absl::Status ResolveSpecialIds(WordPieceTokenizer::Impl* impl, const std::string& source) {
  const WordPieceOptions& o = impl->options;
  auto need = [&](const std::string& token, const char* role,
                  std::int64_t* id) -> absl::Status {
    *id = impl->Lookup(token);
    if (*id < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": the vocabulary has no ", role, " token \"", token, "\""));
    }
    return absl::OkStatus();
  };
  DENSEFB_RETURN_IF_ERROR(need(o.unk_token, "unknown", &impl->unk));
  DENSEFB_RETURN_IF_ERROR(need(o.cls_token, "classifier", &impl->cls));
  DENSEFB_RETURN_IF_ERROR(need(o.sep_token, "separator", &impl->sep));
  impl->pad = impl->Lookup(o.pad_token);
  impl->mask = impl->Lookup(o.mask_token);
  return absl::OkStatus();
}

void SetBertTemplates(WordPieceTokenizer::Impl* impl) {
  using T = TemplateItem;
  impl->single = {T{T::kSpecial, {impl->cls}, 0}, T{T::kSequenceA, {}, 0},
                  T{T::kSpecial, {impl->sep}, 0}};
  impl->pair = {T{T::kSpecial, {impl->cls}, 0}, T{T::kSequenceA, {}, 0},
                T{T::kSpecial, {impl->sep}, 0}, T{T::kSequenceB, {}, 1},
                T{T::kSpecial, {impl->sep}, 1}};
}

std::int64_t CountSpecial(const std::vector<TemplateItem>& items) {
  std::int64_t n = 0;
  for (const auto& item : items) {
    if (item.type == TemplateItem::kSpecial) n += static_cast<std::int64_t>(item.ids.size());
  }
  return n;
}

// "type" of a tokenizer.json component; `what` names it in errors.
absl::StatusOr<std::string> ComponentType(const Json& obj, const std::string& path,
                                          absl::string_view what) {
  if (!obj.is_object()) return Bad(path, absl::StrCat(what, " must be an object or null"));
  auto it = obj.find("type");
  if (it == obj.end() || !it->is_string()) {
    return Bad(path, absl::StrCat(what, " has no \"type\""));
  }
  return it->get<std::string>();
}

// A Sequence with a single element stands for that element.
const Json& Unwrap(const Json& obj, const char* list_key) {
  if (obj.is_object() && obj.value("type", "") == "Sequence") {
    auto it = obj.find(list_key);
    if (it != obj.end() && it->is_array() && it->size() == 1) return (*it)[0];
  }
  return obj;
}

absl::Status ParseNormalizer(const Json& j, const std::string& path, WordPieceOptions* o) {
  auto it = j.find("normalizer");
  if (it == j.end() || it->is_null()) {
    o->clean_text = o->handle_chinese_chars = o->lowercase = false;
    o->strip_accents = false;
    return absl::OkStatus();
  }
  const Json& n = Unwrap(*it, "normalizers");
  DENSEFB_ASSIGN_OR_RETURN(std::string type, ComponentType(n, path, "normalizer"));
  if (type != "BertNormalizer") {
    return Unsupported(path, absl::StrCat("normalizer \"", type, "\""));
  }
  const std::string where = "normalizer.";
  DENSEFB_RETURN_IF_ERROR(BoolField(n, "clean_text", path, where, &o->clean_text));
  DENSEFB_RETURN_IF_ERROR(
      BoolField(n, "handle_chinese_chars", path, where, &o->handle_chinese_chars));
  DENSEFB_RETURN_IF_ERROR(BoolField(n, "lowercase", path, where, &o->lowercase));
  o->strip_accents.reset();
  DENSEFB_RETURN_IF_ERROR(OptionalBool(n, "strip_accents", path, where, &o->strip_accents));
  return absl::OkStatus();
}

absl::Status ParsePreTokenizer(const Json& j, const std::string& path) {
  auto it = j.find("pre_tokenizer");
  if (it == j.end() || it->is_null()) return Unsupported(path, "a null pre_tokenizer");
  const Json& p = Unwrap(*it, "pretokenizers");
  DENSEFB_ASSIGN_OR_RETURN(std::string type, ComponentType(p, path, "pre_tokenizer"));
  if (type != "BertPreTokenizer") {
    return Unsupported(path, absl::StrCat("pre_tokenizer \"", type, "\""));
  }
  return absl::OkStatus();
}

absl::Status ParseModel(const Json& j, const std::string& path, WordPieceOptions* o,
                        absl::flat_hash_map<std::string, std::int64_t>* vocab) {
  auto it = j.find("model");
  if (it == j.end() || !it->is_object()) return Bad(path, "no \"model\" object");
  const Json& m = *it;
  std::string type = m.value("type", "");
  if (type.empty()) {
    // Old files omit the type; tokenizers tells the models apart by their fields.
    if (m.contains("merges")) {
      type = "BPE";
    } else if (m.contains("continuing_subword_prefix") ||
               m.contains("max_input_chars_per_word")) {
      type = "WordPiece";
    } else {
      type = "unknown";
    }
  }
  if (type != "WordPiece") return Unsupported(path, absl::StrCat("model type \"", type, "\""));
  auto v = m.find("vocab");
  if (v == m.end() || !v->is_object()) return Bad(path, "model.vocab must be an object");
  if (v->empty()) return Bad(path, "model.vocab is empty");
  vocab->reserve(v->size());
  for (const auto& [token, id] : v->items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0) {
      return Bad(path, absl::StrCat("model.vocab[\"", token, "\"] must be a non-negative integer"));
    }
    (*vocab)[token] = id.get<std::int64_t>();
  }
  std::int64_t max_id = 0;
  for (const auto& [token, id] : *vocab) max_id = std::max(max_id, id);
  if (max_id >= 4 * static_cast<std::int64_t>(vocab->size()) + 1024) {
    return Bad(path, absl::StrCat("model.vocab ids are not dense (largest id ", max_id, " for ",
                                  vocab->size(), " tokens)"));
  }
  if (auto u = m.find("unk_token"); u != m.end() && !u->is_null()) {
    if (!u->is_string()) return Bad(path, "model.unk_token must be a string");
    o->unk_token = u->get<std::string>();
  }
  if (auto p = m.find("continuing_subword_prefix"); p != m.end() && !p->is_null()) {
    if (!p->is_string()) return Bad(path, "model.continuing_subword_prefix must be a string");
    o->continuing_subword_prefix = p->get<std::string>();
  }
  if (auto c = m.find("max_input_chars_per_word"); c != m.end() && !c->is_null()) {
    if (!c->is_number_integer() || c->get<std::int64_t>() < 0) {
      return Bad(path, "model.max_input_chars_per_word must be a non-negative integer");
    }
    o->max_input_chars_per_word = c->get<std::int64_t>();
  }
  return absl::OkStatus();
}

absl::Status ParseAddedTokens(const Json& j, const std::string& path,
                              std::vector<AddedToken>* out) {
  auto it = j.find("added_tokens");
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return Bad(path, "added_tokens must be a list");
  for (std::size_t i = 0; i < it->size(); ++i) {
    const Json& t = (*it)[i];
    const std::string where = absl::StrCat("added_tokens[", i, "].");
    if (!t.is_object() || !t.contains("content") || !t["content"].is_string() ||
        !t.contains("id") || !t["id"].is_number_integer()) {
      return Bad(path, absl::StrCat("added_tokens[", i, "] needs a string content and an id"));
    }
    AddedToken a;
    a.content = t["content"].get<std::string>();
    a.id = t["id"].get<std::int64_t>();
    DENSEFB_RETURN_IF_ERROR(BoolField(t, "special", path, where, &a.special));
    a.normalized = !a.special;  // tokenizers' default
    DENSEFB_RETURN_IF_ERROR(BoolField(t, "normalized", path, where, &a.normalized));
    DENSEFB_RETURN_IF_ERROR(BoolField(t, "lstrip", path, where, &a.lstrip));
    DENSEFB_RETURN_IF_ERROR(BoolField(t, "rstrip", path, where, &a.rstrip));
    bool single_word = false;
    DENSEFB_RETURN_IF_ERROR(BoolField(t, "single_word", path, where, &single_word));
    if (single_word) return Unsupported(path, absl::StrCat(where, "single_word = true"));
    out->push_back(std::move(a));
  }
  return absl::OkStatus();
}

absl::Status ParsePostProcessor(const Json& j, const std::string& path,
                                WordPieceTokenizer::Impl* impl) {
  using T = TemplateItem;
  auto it = j.find("post_processor");
  if (it == j.end() || it->is_null()) {
    impl->single = {T{T::kSequenceA, {}, 0}};
    impl->pair = {T{T::kSequenceA, {}, 0}, T{T::kSequenceB, {}, 1}};
    return absl::OkStatus();
  }
  const Json& p = Unwrap(*it, "processors");
  DENSEFB_ASSIGN_OR_RETURN(std::string type, ComponentType(p, path, "post_processor"));
  if (type == "BertProcessing") {
    auto token_id = [&](const char* key, std::int64_t* id) -> absl::Status {
      auto f = p.find(key);
      if (f == p.end() || !f->is_array() || f->size() != 2 || !(*f)[1].is_number_integer()) {
        return Bad(path, absl::StrCat("post_processor.", key, " must be [token, id]"));
      }
      *id = (*f)[1].get<std::int64_t>();
      return absl::OkStatus();
    };
    std::int64_t cls = -1, sep = -1;
    DENSEFB_RETURN_IF_ERROR(token_id("cls", &cls));
    DENSEFB_RETURN_IF_ERROR(token_id("sep", &sep));
    impl->single = {T{T::kSpecial, {cls}, 0}, T{T::kSequenceA, {}, 0}, T{T::kSpecial, {sep}, 0}};
    impl->pair = {T{T::kSpecial, {cls}, 0}, T{T::kSequenceA, {}, 0}, T{T::kSpecial, {sep}, 0},
                  T{T::kSequenceB, {}, 1}, T{T::kSpecial, {sep}, 1}};
    return absl::OkStatus();
  }
  if (type != "TemplateProcessing") {
    return Unsupported(path, absl::StrCat("post_processor \"", type, "\""));
  }
  // special_tokens: name -> ids
  absl::flat_hash_map<std::string, std::vector<std::int64_t>> specials;
  if (auto s = p.find("special_tokens"); s != p.end() && s->is_object()) {
    for (const auto& [name, value] : s->items()) {
      auto ids = value.find("ids");
      if (!value.is_object() || ids == value.end() || !ids->is_array()) {
        return Bad(path, absl::StrCat("post_processor.special_tokens[\"", name, "\"] has no ids"));
      }
      std::vector<std::int64_t> v;
      for (const auto& id : *ids) {
        if (!id.is_number_integer()) {
          return Bad(path, absl::StrCat("post_processor.special_tokens[\"", name,
                                        "\"].ids must be integers"));
        }
        v.push_back(id.get<std::int64_t>());
      }
      specials[name] = std::move(v);
    }
  }
  auto parse = [&](const char* key, bool is_pair, std::vector<T>* out) -> absl::Status {
    auto t = p.find(key);
    if (t == p.end() || !t->is_array()) {
      return Bad(path, absl::StrCat("post_processor.", key, " must be a list"));
    }
    for (const Json& item : *t) {
      if (item.is_object() && item.contains("SpecialToken")) {
        const Json& st = item["SpecialToken"];
        const std::string name = st.value("id", "");
        auto found = specials.find(name);
        if (found == specials.end()) {
          return Bad(path, absl::StrCat("post_processor.", key, ": special token \"", name,
                                        "\" is not in special_tokens"));
        }
        out->push_back(T{T::kSpecial, found->second, st.value("type_id", 0)});
      } else if (item.is_object() && item.contains("Sequence")) {
        const Json& sq = item["Sequence"];
        const std::string id = sq.value("id", "");
        if (id != "A" && id != "B") {
          return Bad(path, absl::StrCat("post_processor.", key, ": sequence \"", id, "\""));
        }
        if (id == "B" && !is_pair) {
          return Bad(path, absl::StrCat("post_processor.", key, " uses sequence B"));
        }
        out->push_back(
            T{id == "A" ? T::kSequenceA : T::kSequenceB, {}, sq.value("type_id", 0)});
      } else {
        return Bad(path, absl::StrCat("post_processor.", key, ": unknown piece ", item.dump()));
      }
    }
    return absl::OkStatus();
  };
  impl->single.clear();
  impl->pair.clear();
  DENSEFB_RETURN_IF_ERROR(parse("single", false, &impl->single));
  DENSEFB_RETURN_IF_ERROR(parse("pair", true, &impl->pair));
  return absl::OkStatus();
}

// The post-processor's special tokens must be ids of the vocabulary (tokenizers would emit
// any number it is given, and the model's embedding lookup would fail on it).
absl::Status CheckTemplateIds(const WordPieceTokenizer::Impl& impl, const std::string& path) {
  const auto num_ids = static_cast<std::int64_t>(impl.id_to_token.size());
  for (const auto* items : {&impl.single, &impl.pair}) {
    for (const TemplateItem& item : *items) {
      for (std::int64_t id : item.ids) {
        if (id < 0 || id >= num_ids) {
          return Bad(path, absl::StrCat("post_processor: special token id ", id,
                                        " is not in the vocabulary (", num_ids, " ids)"));
        }
      }
    }
  }
  return absl::OkStatus();
}

// transformers rebuilds BertNormalizer from tokenizer_config.json; if that disagrees with
// tokenizer.json the two libraries tokenize differently, so refuse rather than pick one.
absl::Status CheckConsistent(const TokenizerConfig& c, const WordPieceOptions& o,
                             const std::string& json_path) {
  if (!c.tokenizer_class.empty() && !IsBertTokenizerClass(c.tokenizer_class)) {
    return absl::OkStatus();
  }
  auto conflict = [&](const char* key, bool config_value, const char* json_key, bool json_value) {
    return absl::InvalidArgumentError(absl::StrCat(
        c.path, ": ", key, " = ", config_value ? "true" : "false", " contradicts ", json_path,
        " (normalizer ", json_key, " = ", json_value ? "true" : "false",
        "); transformers and tokenizers would tokenize differently"));
  };
  if (c.do_lower_case && *c.do_lower_case != o.lowercase) {
    return conflict("do_lower_case", *c.do_lower_case, "lowercase", o.lowercase);
  }
  if (c.tokenize_chinese_chars && *c.tokenize_chinese_chars != o.handle_chinese_chars) {
    return conflict("tokenize_chinese_chars", *c.tokenize_chinese_chars, "handle_chinese_chars",
                    o.handle_chinese_chars);
  }
  if (c.strip_accents_given) {
    const bool config_strip = c.strip_accents.value_or(c.do_lower_case.value_or(o.lowercase));
    if (config_strip != o.effective_strip_accents()) {
      return conflict("strip_accents", config_strip, "strip_accents",
                      o.effective_strip_accents());
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

absl::StatusOr<std::unique_ptr<WordPieceTokenizer::Impl>> BuildFromJson(
    const Json& j, const std::string& path, const std::string& tokenizer_config_path,
    const std::string& special_tokens_map_path) {
  using Impl = WordPieceTokenizer::Impl;
  auto impl = std::make_unique<Impl>();
  WordPieceOptions& o = impl->options;
  std::optional<TokenizerConfig> config;
  if (!tokenizer_config_path.empty()) {
    DENSEFB_ASSIGN_OR_RETURN(config, ReadTokenizerConfig(tokenizer_config_path, &o));
  }
  if (!special_tokens_map_path.empty()) {
    DENSEFB_RETURN_IF_ERROR(ReadSpecialTokensMap(special_tokens_map_path, &o));
  }
  absl::flat_hash_map<std::string, std::int64_t> vocab;
  DENSEFB_RETURN_IF_ERROR(ParseModel(j, path, &o, &vocab));
  DENSEFB_RETURN_IF_ERROR(ParseNormalizer(j, path, &o));
  DENSEFB_RETURN_IF_ERROR(ParsePreTokenizer(j, path));
  if (config) DENSEFB_RETURN_IF_ERROR(CheckConsistent(*config, o, path));
  std::vector<AddedToken> added;
  DENSEFB_RETURN_IF_ERROR(ParseAddedTokens(j, path, &added));
  impl->SetVocab(std::move(vocab));
  impl->SetTables();
  if (absl::Status st = impl->SetAddedTokens(std::move(added)); !st.ok()) return Bad(path, st.message());
  if (impl->vocab.find(o.unk_token) == impl->vocab.end()) {
    return Bad(path, absl::StrCat("model.vocab has no unknown token \"", o.unk_token, "\""));
  }
  DENSEFB_RETURN_IF_ERROR(ResolveSpecialIds(impl.get(), path));
  DENSEFB_RETURN_IF_ERROR(ParsePostProcessor(j, path, impl.get()));
  DENSEFB_RETURN_IF_ERROR(CheckTemplateIds(*impl, path));
  impl->special_single = CountSpecial(impl->single);
  impl->special_pair = CountSpecial(impl->pair);
  return impl;
}

absl::StatusOr<std::unique_ptr<WordPieceTokenizer::Impl>> BuildFromVocab(
    std::vector<std::string> tokens, const WordPieceOptions& options, const std::string& source,
    std::vector<AddedToken> extra_added) {
  using Impl = WordPieceTokenizer::Impl;
  if (tokens.empty()) return Bad(source, "empty vocabulary");
  if (options.max_input_chars_per_word < 0) {
    return Bad(source, "max_input_chars_per_word must be non-negative");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  absl::flat_hash_map<std::string, std::int64_t> vocab;
  vocab.reserve(tokens.size());
  // Like transformers' load_vocab (a dict): a repeated token keeps its last line.
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    vocab[std::move(tokens[i])] = static_cast<std::int64_t>(i);
  }
  impl->SetVocab(std::move(vocab));
  impl->SetTables();
  // transformers' BertTokenizer registers its special tokens as added tokens
  // (normalized=false), then the tokens of added_tokens_decoder.
  std::vector<AddedToken> added;
  absl::flat_hash_map<std::string, bool> seen;
  for (const AddedToken& t : extra_added) {
    added.push_back(t);
    seen[t.content] = true;
  }
  for (const std::string* name : {&options.pad_token, &options.unk_token, &options.cls_token,
                                  &options.sep_token, &options.mask_token}) {
    if (name->empty() || seen.contains(*name)) continue;
    auto it = impl->vocab.find(*name);
    if (it == impl->vocab.end()) continue;
    added.push_back(AddedToken{*name, it->second, true, false, false, false});
    seen[*name] = true;
  }
  if (absl::Status st = impl->SetAddedTokens(std::move(added)); !st.ok()) return Bad(source, st.message());
  if (impl->vocab.find(options.unk_token) == impl->vocab.end()) {
    return Bad(source, absl::StrCat("the vocabulary has no unknown token \"", options.unk_token,
                                    "\""));
  }
  DENSEFB_RETURN_IF_ERROR(ResolveSpecialIds(impl.get(), source));
  SetBertTemplates(impl.get());
  impl->special_single = CountSpecial(impl->single);
  impl->special_pair = CountSpecial(impl->pair);
  return impl;
}

// vocab.txt as transformers reads it: text-mode lines (\n, \r\n and \r end a line).
absl::StatusOr<std::vector<std::string>> ReadVocabLines(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || text[i] == '\r') {
      lines.emplace_back(text, start, i - start);
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < text.size()) lines.emplace_back(text, start, text.size() - start);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const auto* s = reinterpret_cast<const unsigned char*>(lines[n].data());
    for (std::size_t i = 0; i < lines[n].size();) {
      char32_t c = s[i];
      int len = 1;
      if (c >= 0x80 && (len = DecodeUtf8(s + i, lines[n].size() - i, &c)) == 0) {
        return Bad(path, absl::StrCat("line ", n + 1, " is not valid UTF-8"));
      }
      i += len;
    }
  }
  if (lines.empty()) return Bad(path, "empty vocabulary");
  return lines;
}

}  // namespace

absl::StatusOr<WordPieceTokenizer> WordPieceTokenizer::FromTokenizerJson(
    const std::string& path, const std::string& tokenizer_config_path) {
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(path));
  try {
    DENSEFB_ASSIGN_OR_RETURN(auto impl, BuildFromJson(j, path, tokenizer_config_path, ""));
    return WordPieceTokenizer(std::move(impl));
  } catch (const Json::exception& e) {
    // A field of an unexpected JSON type that the checks above did not anticipate.
    return Bad(path, absl::StrCat("unexpected content: ", e.what()));
  }
}

absl::StatusOr<WordPieceTokenizer> WordPieceTokenizer::FromVocab(std::vector<std::string> tokens,
                                                                 const WordPieceOptions& options) {
  DENSEFB_ASSIGN_OR_RETURN(auto impl, BuildFromVocab(std::move(tokens), options, "vocabulary", {}));
  return WordPieceTokenizer(std::move(impl));
}

absl::StatusOr<WordPieceTokenizer> WordPieceTokenizer::FromVocabFile(
    const std::string& vocab_path, const WordPieceOptions& options) {
  DENSEFB_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadVocabLines(vocab_path));
  DENSEFB_ASSIGN_OR_RETURN(auto impl, BuildFromVocab(std::move(lines), options, vocab_path, {}));
  return WordPieceTokenizer(std::move(impl));
}

absl::StatusOr<WordPieceTokenizer> WordPieceTokenizer::FromDirectory(const std::string& dir) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(dir));
  std::error_code ec;
  if (!fs::exists(dir, ec)) return absl::NotFoundError(absl::StrCat(dir, ": no such directory"));
  if (!fs::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": not a directory"));
  }
  const std::string json_path = (fs::path(dir) / "tokenizer.json").string();
  const std::string vocab_path = (fs::path(dir) / "vocab.txt").string();
  const std::string config_path = (fs::path(dir) / "tokenizer_config.json").string();
  const std::string map_path = (fs::path(dir) / "special_tokens_map.json").string();
  const bool has_config = fs::is_regular_file(config_path, ec);
  const bool has_map = fs::is_regular_file(map_path, ec);
  if (fs::exists(json_path, ec)) {
    DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(json_path));
    try {
      DENSEFB_ASSIGN_OR_RETURN(auto impl, BuildFromJson(j, json_path, has_config ? config_path : "",
                                                        has_map ? map_path : ""));
      return WordPieceTokenizer(std::move(impl));
    } catch (const Json::exception& e) {
      return Bad(json_path, absl::StrCat("unexpected content: ", e.what()));
    }
  }
  if (!fs::exists(vocab_path, ec)) {
    return absl::NotFoundError(absl::StrCat(
        dir, ": not a tokenizer directory: no such file tokenizer.json or vocab.txt"));
  }
  // transformers' BertTokenizer defaults, overridden by tokenizer_config.json.
  WordPieceOptions options;
  TokenizerConfig config;
  if (has_config) {
    DENSEFB_ASSIGN_OR_RETURN(config, ReadTokenizerConfig(config_path, &options));
    if (!config.tokenizer_class.empty() && !IsBertTokenizerClass(config.tokenizer_class)) {
      return Unsupported(config_path, absl::StrCat("tokenizer_class \"", config.tokenizer_class,
                                                   "\" (with vocab.txt and no tokenizer.json)"));
    }
    if (config.do_lower_case) options.lowercase = *config.do_lower_case;
    options.strip_accents = config.strip_accents;
    if (config.tokenize_chinese_chars) {
      options.handle_chinese_chars = *config.tokenize_chinese_chars;
    }
  }
  if (has_map) DENSEFB_RETURN_IF_ERROR(ReadSpecialTokensMap(map_path, &options));
  DENSEFB_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadVocabLines(vocab_path));
  // Tokens of added_tokens_decoder / additional_special_tokens must be in the vocabulary
  // (new ids past it are not reproduced).
  std::vector<AddedToken> extra = config.added_tokens_decoder;
  absl::flat_hash_map<std::string, std::int64_t> line_of;
  for (std::size_t i = 0; i < lines.size(); ++i) line_of[lines[i]] = static_cast<std::int64_t>(i);
  for (const AddedToken& t : extra) {
    if (t.id >= static_cast<std::int64_t>(lines.size()) || lines[t.id] != t.content) {
      auto it = line_of.find(t.content);
      if (it == line_of.end() || it->second != t.id) {
        return Unsupported(config_path,
                           absl::StrCat("added token \"", t.content, "\" with id ", t.id,
                                        " that is not line ", t.id + 1, " of ", vocab_path));
      }
    }
  }
  for (const std::string& token : config.additional_special_tokens) {
    bool present = false;
    for (const AddedToken& t : extra) present = present || t.content == token;
    if (present) continue;
    auto it = line_of.find(token);
    if (it == line_of.end()) {
      return Unsupported(config_path, absl::StrCat("additional special token \"", token,
                                                   "\" absent from ", vocab_path));
    }
    extra.push_back(AddedToken{token, it->second, true, false, false, false});
  }
  DENSEFB_ASSIGN_OR_RETURN(
      auto impl, BuildFromVocab(std::move(lines), options, vocab_path, std::move(extra)));
  return WordPieceTokenizer(std::move(impl));
}

}  // namespace densefb
