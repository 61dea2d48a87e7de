/* SPDX-License-Identifier: GPL-2.0 */
/* A worker's range of pt_dirs slots (a connection in the kernel owns one,
 * i.e. two directions): which are free, and who owns each (back-pressure
 * events name a slot). */
#ifndef PT_SLOTS_H
#define PT_SLOTS_H

#include <stdint.h>

struct slots {
	uint32_t base, n;	/* this range: [base, base + n) */
	uint32_t *free;		/* a stack of free slots */
	uint32_t nfree;
	void **owner;		/* slot - base -> its owner */
	/* slot - base -> the socket cookies of its two directions: only a
	 * connection in the kernel has them, so they live here and not in
	 * every connection. */
	uint64_t (*cookie)[2];
};

int slots_init(struct slots *s, uint32_t base, uint32_t n);
void slots_fini(struct slots *s);
/* A free slot for owner, or -ENOSPC. */
int slots_get(struct slots *s, uint32_t *slot, void *owner);
void slots_put(struct slots *s, uint32_t slot);
/* A taken-over connection keeps its slot: out of the free stack, or
 * -ENOENT if it is not a free slot of this range. */
int slots_claim(struct slots *s, uint32_t slot, void *owner);
/* The cookies of a slot taken (zero when it was got). */
static inline uint64_t *slots_cookie(struct slots *s, uint32_t slot)
{
	return s->cookie[slot - s->base];
}
/* Its owner, or NULL (free, or not in this range). */
void *slots_owner(const struct slots *s, uint32_t slot);

#endif /* PT_SLOTS_H */
