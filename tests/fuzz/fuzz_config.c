// SPDX-License-Identifier: GPL-2.0
/* libFuzzer harness for the config loader: the input is a JSON file fed
 * to config_parse() (as config_load() does after reading it), then freed.
 * Beyond "no crash, no leak, no over-read" (the input is an exact-size heap
 * copy without a NUL after it, so ASan sees one byte too far), it checks
 * what the rest of passthru relies on:
 *  - a rejected file says why: errbuf holds at least one line, each
 *    starting with the file name, NUL-terminated within errlen, even when
 *    errlen is tiny (the loader must truncate, not overflow);
 *  - an accepted file is sane: listeners with groups, settings and
 *    per-source limits within the ranges the loader promises, every
 *    FORWARD with at least one target;
 *  - the verdict does not depend on the error buffer's size (1 to 64 bytes,
 *    or none at all: nothing written) nor on command-line overrides, which
 *    are applied; parsing twice gives the same messages. */
#include <stdbool.h>

#include "config/config.h"
#include "base/log.h"

#define FUZZ_NAME "fuzz_config"
#include "fuzz.h"

#define NAME "fuzz.json"

/* Always NUL-terminated within errlen; with a full-size buffer, at least
 * one line, and the first names the file. */
static void check_errors(const char *err, size_t errlen, bool full)
{
	size_t n = strnlen(err, errlen);

	if (n == errlen)
		BUG("errbuf not NUL-terminated within %zu bytes", errlen);
	if (!full)
		return;
	if (!n)
		BUG("rejected without a message");
	if (strncmp(err, NAME ": ", strlen(NAME ": ")))
		BUG("error does not start with the file name: \"%.80s\"", err);
}

static void check_rule(const struct rule *r)
{
	if (!r->key)
		BUG("rule without key");
	if (r->action == ACT_FORWARD) {
		if (r->up.n < 1 || r->up.n > UP_MAX_TARGETS || !r->up.t)
			BUG("FORWARD rule \"%s\" with %d targets", r->key, r->up.n);
		for (int i = 0; i < r->up.n; i++)
			if (!r->up.t[i].text || !r->up.t[i].port)
				BUG("rule \"%s\": target %d without text or port", r->key, i);
	} else if (r->action != ACT_REJECT) {
		BUG("rule \"%s\": action %d", r->key, r->action);
	}
}

static void check_config(const struct config *c)
{
	const struct settings *s = &c->set;

	if (c->nlisteners < 1 || !c->listeners)
		BUG("accepted with %d listeners", c->nlisteners);
	if (s->sniff_max < 64 || s->sniff_max > SNIFF_MAX_LIMIT)
		BUG("sniff_max %llu", (unsigned long long)s->sniff_max);
	if (s->conn_buffer && (s->conn_buffer < 65536 || s->conn_buffer > (1ULL << 31)))
		BUG("conn_buffer %llu", (unsigned long long)s->conn_buffer);
	if (s->max_connections < 1 || s->max_connections > (1 << 22))
		BUG("max_connections %llu", (unsigned long long)s->max_connections);
	if (s->workers < 0 || s->workers > 1024)
		BUG("workers %d", s->workers);
	for (int i = 0; i < c->nlisteners; i++) {
		const struct listener *l = &c->listeners[i];

		if (!l->text || !l->addrlen)
			BUG("listener %d without address", i);
		if (l->ngroups < 1 || !l->groups)
			BUG("listener %s with %d groups", l->text, l->ngroups);
		if (l->lim.prefix4 > 32 || l->lim.prefix6 > 128 ||
		    (l->lim.interval_us && (!l->lim.burst || l->lim.interval_us > 86400000000ULL)) ||
		    (l->lim.nexempt && !l->lim.exempt) || l->sl)
			BUG("listener %s: per-source limits out of range", l->text);
		if (l->regex_window > s->sniff_max)
			BUG("listener %s: regex_window %u > sniff_max", l->text, l->regex_window);
		for (int g = 0; g < l->ngroups; g++) {
			const struct pgroup *pg = &l->groups[g];

			if (pg->nrules < 0 || (pg->nrules && !pg->rules))
				BUG("listener %s group %d: %d rules", l->text, g, pg->nrules);
			for (int r = 0; r < pg->nrules; r++)
				check_rule(&pg->rules[r]);
		}
		if (l->catchall)
			check_rule(l->catchall);
		if (l->on_timeout)
			check_rule(l->on_timeout);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(LOG_ERROR, LOG_TEXT);
	log_max = LOG_ERROR;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char err1[16384], err2[16384], small[64];
	char *json = (char *)fuzz_copy(data, size);
	struct config *c1, *c2;
	size_t smallen;

	c1 = config_parse(json, size, NAME, NULL, 0, err1, sizeof(err1));
	if (c1) {
		if (err1[0])
			BUG("accepted, with errors: \"%.80s\"", err1);
		check_config(c1);
	} else {
		check_errors(err1, sizeof(err1), true);
	}

	/* The same input, a tiny error buffer of 1..64 bytes, command-line
	 * overrides: the same verdict. */
	{
		struct settings cli;

		settings_default(&cli);
		cli.workers = 3;
		cli.sniff_timeout_ms = 1234;
		cli.mode = MODE_SPLICE;
		smallen = 1 + (size ? data[size - 1] % sizeof(small) : 0);
		c2 = config_parse(json, size, NAME, &cli,
				  SET_WORKERS | SET_SNIFF_TIMEOUT | SET_MODE, small, smallen);
	}
	if (!c1 != !c2)
		BUG("verdict changed with the error buffer or the overrides");
	if (c2) {
		if (c2->set.workers != 3 || c2->set.sniff_timeout_ms != 1234 ||
		    c2->set.mode != MODE_SPLICE)
			BUG("command-line overrides not applied");
		if (c1->nlisteners != c2->nlisteners)
			BUG("%d listeners, then %d", c1->nlisteners, c2->nlisteners);
	} else {
		check_errors(small, smallen, false);
	}
	config_free(c1);
	config_free(c2);

	/* errlen 0: nothing may be written at all. */
	{
		char guard = 'x';

		c1 = config_parse(json, size, NAME, NULL, 0, &guard, 0);
		if (guard != 'x')
			BUG("wrote into a zero-length error buffer");
		config_free(c1);
	}

	/* Parsing twice: the same answer (no hidden state). */
	c1 = config_parse(json, size, NAME, NULL, 0, err2, sizeof(err2));
	if (!c1 && strcmp(err1, err2))
		BUG("second parse gave other messages");
	config_free(c1);
	free(json);
	return 0;
}
