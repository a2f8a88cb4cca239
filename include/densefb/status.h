// Error model of the C++ API: every fallible operation returns absl::Status or
// absl::StatusOr<T>. Messages name the file, line, id or dimension at fault.
#ifndef DENSEFB_STATUS_H_
#define DENSEFB_STATUS_H_

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define DENSEFB_CONCAT_INNER_(a, b) a##b
#define DENSEFB_CONCAT_(a, b) DENSEFB_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define DENSEFB_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status densefb_status_ = (expr);           \
    if (!densefb_status_.ok()) return densefb_status_; \
  } while (0)

// `lhs = value of rexpr` (an absl::StatusOr<T>), or returns its error.
#define DENSEFB_ASSIGN_OR_RETURN(lhs, rexpr) \
  DENSEFB_ASSIGN_OR_RETURN_IMPL_(DENSEFB_CONCAT_(densefb_statusor_, __LINE__), lhs, rexpr)
#define DENSEFB_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();        \
  lhs = std::move(tmp).value()

// Internal invariant (never input validation): checked in every build mode.
#define DENSEFB_CHECK(cond)                                                              \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "densefb: internal check failed at %s:%d: %s\n", __FILE__, \
                   __LINE__, #cond);                                                     \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

#endif  // DENSEFB_STATUS_H_
