// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>

#include "datapath/slots.h"

int slots_init(struct slots *s, uint32_t base, uint32_t n)
{
	s->base = base;
	s->n = n;
	s->owner = calloc(n ? n : 1, sizeof(*s->owner));
	s->free = malloc((n ? n : 1) * sizeof(*s->free));
	s->cookie = calloc(n ? n : 1, sizeof(*s->cookie));
	if (!s->owner || !s->free || !s->cookie)
		return -ENOMEM;
	/* Lowest slot on top: the first connections touch the first pages
	 * of the mmapped pt_dirs. */
	for (uint32_t i = 0; i < n; i++)
		s->free[i] = base + n - 1 - i;
	s->nfree = n;
	return 0;
}

void slots_fini(struct slots *s)
{
	free(s->free);
	free(s->owner);
	free(s->cookie);
	s->free = NULL;
	s->owner = NULL;
	s->cookie = NULL;
	s->nfree = 0;
}

int slots_get(struct slots *s, uint32_t *slot, void *owner)
{
	if (!s->nfree)
		return -ENOSPC;
	*slot = s->free[--s->nfree];
	s->owner[*slot - s->base] = owner;
	s->cookie[*slot - s->base][0] = s->cookie[*slot - s->base][1] = 0;
	return 0;
}

void slots_put(struct slots *s, uint32_t slot)
{
	s->owner[slot - s->base] = NULL;
	s->free[s->nfree++] = slot;
}

int slots_claim(struct slots *s, uint32_t slot, void *owner)
{
	for (uint32_t i = 0; i < s->nfree; i++) {
		if (s->free[i] != slot)
			continue;
		s->free[i] = s->free[--s->nfree];
		s->owner[slot - s->base] = owner;
		s->cookie[slot - s->base][0] = s->cookie[slot - s->base][1] = 0;
		return 0;
	}
	return -ENOENT;
}

void *slots_owner(const struct slots *s, uint32_t slot)
{
	if (slot < s->base || slot - s->base >= s->n)
		return NULL;
	return s->owner[slot - s->base];
}
