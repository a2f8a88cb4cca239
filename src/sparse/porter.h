// Internal: in-place Porter stemming of an analysed (lower-case, UTF-8) token.
#ifndef DENSEFB_SRC_SPARSE_PORTER_H_
#define DENSEFB_SRC_SPARSE_PORTER_H_

#include <string>

namespace densefb::sparse {

// Replaces `word` by its Porter stem (see include/densefb/bm25.h for the variant).
void PorterStemInPlace(std::string* word);

}  // namespace densefb::sparse

#endif  // DENSEFB_SRC_SPARSE_PORTER_H_
