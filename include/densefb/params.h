// Stage parameters: the parsed `key=value` arguments of a spec (StageArgs) and the table that
// reads, prints and documents one stage's configuration (ParamTable). Each parameter's name,
// default, range and help are written once, in the table; the default is the Config struct's
// member initialiser. The spec parser, canonical printing, the registry's help and the Python
// keyword arguments all come from it.
//
//   struct Config { std::int64_t k = 1000; int ef_search = 0; };
//   static const ParamTable<Config> table = ParamTable<Config>("dense")
//       .Integer("k", &Config::k, 1, 1 << 30, "documents retrieved per query")
//       .Integer("ef_search", &Config::ef_search, 0, 1 << 30, "HNSW candidate list; 0 = index default");
//   Config c;  DENSEFB_RETURN_IF_ERROR(table.Read(args, &c));   // "dense(k=5)" -> k = 5
//   table.Print(c);                                               // "dense(k=5,ef_search=0)"
#ifndef DENSEFB_PARAMS_H_
#define DENSEFB_PARAMS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "densefb/status.h"

namespace densefb {

// A parsed argument value.
struct SpecValue {
  enum class Kind : std::uint8_t { kNumber, kString, kBool, kList };
  Kind kind = Kind::kString;
  double number = 0;          // kNumber
  std::string text;           // kString (names and quoted strings); the source text otherwise
  bool boolean = false;       // kBool
  std::vector<SpecValue> list;  // kList
};

// The key=value arguments of one stage, with typed getters. Each getter marks its key as
// used; Finish() then rejects any key no getter asked for, listing the accepted ones. Errors
// are InvalidArgument naming the stage, the argument, the value and the expected type.
class StageArgs {
 public:
  StageArgs(std::string stage, std::vector<std::pair<std::string, SpecValue>> args);

  const std::string& stage() const { return stage_; }
  bool Has(absl::string_view key) const;
  // The argument names, in the order written.
  std::vector<std::string> Keys() const;

  absl::StatusOr<double> GetDouble(absl::string_view key, double default_value);
  // Integers must be whole numbers of magnitude at most 2^53 (e.g. "3", "3.0", "1e3"); a
  // larger one (1e30) is an error naming the argument, never a wrapped-around value.
  absl::StatusOr<std::int64_t> GetInt(absl::string_view key, std::int64_t default_value);
  absl::StatusOr<bool> GetBool(absl::string_view key, bool default_value);  // true/false/1/0
  absl::StatusOr<std::string> GetString(absl::string_view key, absl::string_view default_value);
  // A list of numbers, e.g. weights=[0.3,0.7]; a single number is a list of one. An empty
  // list is an error (leave the argument out for its default).
  absl::StatusOr<std::vector<double>> GetDoubleList(absl::string_view key,
                                                    std::vector<double> default_value);

  // The raw value of `key` (null if absent), for values of more than one type; marks it used.
  const SpecValue* Get(absl::string_view key) { return Find(key); }

  // InvalidArgument naming the first unknown key and listing the accepted (asked-for) keys.
  absl::Status Finish() const;

 private:
  const SpecValue* Find(absl::string_view key);
  std::string stage_;
  std::vector<std::pair<std::string, SpecValue>> args_;
  std::vector<std::string> accepted_;
};

// Number formatting used by canonical specs: the shortest form that reads back exactly
// (0.9 -> "0.9", 1000 -> "1000").
std::string SpecNumber(double x);
// A string as a spec value: "text" (or 'text' when it holds a double quote).
std::string SpecString(const std::string& s);

// One parameter as the registry describes it (for help, and Python's keyword arguments).
struct ParamInfo {
  std::string name;
  std::string default_value;  // as printed in a spec, e.g. "1000", "false", "minmax"
  std::string help;
};

template <typename Config>
class ParamTable {
 public:
  explicit ParamTable(std::string stage) : stage_(std::move(stage)) {}

  // An integer in [lo, hi].
  template <typename Int>
  ParamTable&& Integer(const char* name, Int Config::*field, std::int64_t lo, std::int64_t hi,
                       const char* help) && {
    Add(name, help,
        [=, stage = stage_](StageArgs& args, Config& c) -> absl::Status {
          DENSEFB_ASSIGN_OR_RETURN(std::int64_t v, args.GetInt(name, static_cast<std::int64_t>(c.*field)));
          if (v < lo || v > hi) return OutOfRange(stage, name, absl::StrCat(v), lo, hi);
          c.*field = static_cast<Int>(v);
          return absl::OkStatus();
        },
        [=, stage = stage_](const Config& c) -> absl::Status {
          const std::int64_t v = static_cast<std::int64_t>(c.*field);
          return v < lo || v > hi ? OutOfRange(stage, name, absl::StrCat(v), lo, hi) : absl::OkStatus();
        },
        [=, stage = stage_](const Config& c) { return absl::StrCat(static_cast<std::int64_t>(c.*field)); });
    return std::move(*this);
  }
  // A finite number in [lo, hi].
  template <typename Float>
  ParamTable&& Number(const char* name, Float Config::*field, double lo, double hi,
                      const char* help) && {
    Add(name, help,
        [=, stage = stage_](StageArgs& args, Config& c) -> absl::Status {
          DENSEFB_ASSIGN_OR_RETURN(double v, args.GetDouble(name, static_cast<double>(c.*field)));
          if (!(v >= lo && v <= hi)) return OutOfRange(stage, name, SpecNumber(v), lo, hi);
          c.*field = static_cast<Float>(v);
          return absl::OkStatus();
        },
        [=, stage = stage_](const Config& c) -> absl::Status {
          const double v = static_cast<double>(c.*field);
          return !(v >= lo && v <= hi) ? OutOfRange(stage, name, SpecNumber(v), lo, hi) : absl::OkStatus();
        },
        [=, stage = stage_](const Config& c) { return SpecNumber(static_cast<double>(c.*field)); });
    return std::move(*this);
  }
  ParamTable&& Flag(const char* name, bool Config::*field, const char* help) && {
    Add(name, help,
        [=, stage = stage_](StageArgs& args, Config& c) -> absl::Status {
          DENSEFB_ASSIGN_OR_RETURN(c.*field, args.GetBool(name, c.*field));
          return absl::OkStatus();
        },
        nullptr,
        [=, stage = stage_](const Config& c) { return std::string(c.*field ? "true" : "false"); });
    return std::move(*this);
  }
  // A word from `choices` (printed bare), or any text when `choices` is empty (printed quoted).
  ParamTable&& Text(const char* name, std::string Config::*field, std::vector<std::string> choices,
                    const char* help) && {
    auto check = [=, stage = stage_](const std::string& v) -> absl::Status {
      if (!choices.empty() && std::find(choices.begin(), choices.end(), v) == choices.end()) {
        return absl::InvalidArgumentError(absl::StrCat("stage '", stage, "': ", name, " = '", v,
                                                       "'; expected one of ", absl::StrJoin(choices, ", ")));
      }
      if (choices.empty() && v.find('"') != std::string::npos && v.find('\'') != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("stage '", stage, "': ", name, " cannot hold both quote characters"));
      }
      return absl::OkStatus();
    };
    Add(name, help,
        [=, stage = stage_](StageArgs& args, Config& c) -> absl::Status {
          DENSEFB_ASSIGN_OR_RETURN(std::string v, args.GetString(name, c.*field));
          DENSEFB_RETURN_IF_ERROR(check(v));
          c.*field = std::move(v);
          return absl::OkStatus();
        },
        [=, stage = stage_](const Config& c) { return check(c.*field); },
        [=, stage = stage_](const Config& c) { return choices.empty() ? SpecString(c.*field) : c.*field; });
    return std::move(*this);
  }
  // Anything else: `read` parses the argument into the config, `print` writes it back.
  ParamTable&& Custom(const char* name, const char* help,
                      std::function<absl::Status(StageArgs&, Config&)> read,
                      std::function<absl::Status(const Config&)> check,
                      std::function<std::string(const Config&)> print) && {
    Add(name, help, std::move(read), std::move(check), std::move(print));
    return std::move(*this);
  }
  // A check across parameters, run after they are read (e.g. "clusters > fb_embs").
  ParamTable&& Check(std::function<absl::Status(const Config&)> check) && {
    checks_.push_back(std::move(check));
    return std::move(*this);
  }

  const std::string& stage() const { return stage_; }

  // Reads every parameter present in `args` into *config (absent ones keep their value), then
  // the checks; args.Finish() is left to the caller (the registry calls it).
  absl::Status Read(StageArgs& args, Config* config) const {
    for (const Entry& e : entries_) DENSEFB_RETURN_IF_ERROR(e.read(args, *config));
    return Validate(*config);
  }
  // The range and cross-parameter checks, for a config built in code as much as a parsed one:
  // InvalidArgument naming the stage, the parameter and its range.
  absl::Status Validate(const Config& config) const {
    for (const Entry& e : entries_) {
      if (e.check) DENSEFB_RETURN_IF_ERROR(e.check(config));
    }
    for (const auto& check : checks_) DENSEFB_RETURN_IF_ERROR(check(config));
    return absl::OkStatus();
  }
  // "stage(a=1,b=true,...)" with every parameter.
  std::string Print(const Config& config) const {
    std::vector<std::string> parts;
    for (const Entry& e : entries_) parts.push_back(absl::StrCat(e.name, "=", e.print(config)));
    return absl::StrCat(stage_, "(", absl::StrJoin(parts, ","), ")");
  }
  // Every parameter with its default (the value in a default-constructed Config).
  std::vector<ParamInfo> Info() const {
    const Config defaults{};
    std::vector<ParamInfo> out;
    for (const Entry& e : entries_) out.push_back({e.name, e.print(defaults), e.help});
    return out;
  }

 private:
  using Reader = std::function<absl::Status(StageArgs&, Config&)>;
  using Checker = std::function<absl::Status(const Config&)>;
  using Printer = std::function<std::string(const Config&)>;
  struct Entry {
    std::string name;
    std::string help;
    Reader read;
    Checker check;  // may be empty
    Printer print;
  };
  void Add(const char* name, const char* help, Reader read, Checker check, Printer print) {
    entries_.push_back({name, help, std::move(read), std::move(check), std::move(print)});
  }
  static absl::Status OutOfRange(const std::string& stage, const char* name, const std::string& value,
                                 double lo, double hi) {
    return absl::InvalidArgumentError(absl::StrCat("stage '", stage, "': ", name, " = ", value,
                                                   " is out of range [", SpecNumber(lo), ", ",
                                                   SpecNumber(hi), "]"));
  }
  std::string stage_;
  std::vector<Entry> entries_;
  std::vector<Checker> checks_;
};

}  // namespace densefb

#endif  // DENSEFB_PARAMS_H_
