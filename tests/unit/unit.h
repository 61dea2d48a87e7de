/* SPDX-License-Identifier: GPL-2.0 */
/* A unit test framework in one header.  Each TEST prints exactly one line,
 * "PASS name", "FAIL name: why" or "SKIP name: why"; tests/run.sh counts
 * them.  main() is UNIT_MAIN(t1, t2, ...). */
#ifndef PT_UNIT_H
#define PT_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct unit_ctx {
	const char *name;
	int failed;
	int skipped;
	char why[512];
};

#define TEST(fn) static void fn(struct unit_ctx *_u)

#define FAILF(...)                                                          \
	do {                                                                \
		if (!_u->failed) {                                          \
			int _n = snprintf(_u->why, sizeof(_u->why),          \
					  "%s:%d: ", __FILE__, __LINE__);   \
			snprintf(_u->why + _n, sizeof(_u->why) - _n,        \
				 __VA_ARGS__);                              \
		}                                                           \
		_u->failed = 1;                                             \
	} while (0)

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond))                                                \
			FAILF("CHECK(%s)", #cond);                          \
	} while (0)

#define CHECK_INT(a, b)                                                     \
	do {                                                                \
		long long _a = (long long)(a), _b = (long long)(b);         \
		if (_a != _b)                                               \
			FAILF("%s == %lld, want %s == %lld", #a, _a, #b, _b);\
	} while (0)

#define CHECK_STR(a, b)                                                     \
	do {                                                                \
		const char *_a = (a), *_b = (b);                            \
		if (!_a || !_b || strcmp(_a, _b))                           \
			FAILF("%s == \"%s\", want \"%s\"", #a,              \
			      _a ? _a : "(null)", _b ? _b : "(null)");      \
	} while (0)

#define SKIP(...)                                                           \
	do {                                                                \
		snprintf(_u->why, sizeof(_u->why), __VA_ARGS__);            \
		_u->skipped = 1;                                            \
		return;                                                     \
	} while (0)

typedef void (*unit_fn)(struct unit_ctx *);

static inline int unit_run(const char *suite, const char *names,
			   unit_fn *fns, int n)
{
	char buf[4096], *save = NULL, *tok;
	int fails = 0, i = 0;

	snprintf(buf, sizeof(buf), "%s", names);
	for (tok = strtok_r(buf, ", \t\n", &save); tok && i < n;
	     tok = strtok_r(NULL, ", \t\n", &save), i++) {
		struct unit_ctx u = { .name = tok };

		fns[i](&u);
		if (u.skipped)
			printf("SKIP %s/%s: %s\n", suite, tok, u.why);
		else if (u.failed) {
			printf("FAIL %s/%s: %s\n", suite, tok, u.why);
			fails++;
		} else
			printf("PASS %s/%s\n", suite, tok);
		fflush(stdout);
	}
	return fails ? 1 : 0;
}

#define UNIT_MAIN(suite, ...)                                               \
	int main(void)                                                      \
	{                                                                   \
		unit_fn _fns[] = { __VA_ARGS__ };                           \
		return unit_run(suite, #__VA_ARGS__, _fns,                  \
				(int)(sizeof(_fns) / sizeof(_fns[0])));     \
	}

#endif /* PT_UNIT_H */
