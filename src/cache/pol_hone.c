/* pol_hone.c - hone's policy: W-TinyLFU (a window LRU in front of a
 * segmented LRU main space, admission to main by a frequency sketch) whose
 * window the hill climber and the ghost lists of window and main size, over
 * policy.c's nodes and lists. The cache runs it; see docs/design/cache.md. */
#include "cache/pol_internal.h"

enum {
    Q_WINDOW = 1, Q_PROB, Q_PROT, /* the window, main's probation and protected */
    Q_GW, Q_GM                    /* the ghosts of window and main */
};
_Static_assert(Q_GM < HONE__POL_LISTS, "hone's lists fit hone__pol's");

/* The window starts at 1 % of the capacity (TinyLFU's default), the
 * protected segment holds 90 % of the main space, and the hill climber
 * samples the hit rate every 10 x capacity accesses, stepping 3 % of the
 * capacity, restarting its step after a 5 % change in hit rate and decaying
 * it by 2 % otherwise (Caffeine's constants, but for the step: Caffeine's
 * 6.25 % overshoots on small caches, and the step also bounds the window
 * under which admission keeps its margin, see hone_admit). The ghost
 * lists each remember 20 % of the capacity; a ghost hit moves the window
 * by the entry's weight, scaled like ARC by the ratio of the ghost list
 * sizes. The sketch has 8 counters per row for each unit of capacity:
 * narrower rows saturate on traces with many more distinct keys than the
 * cache holds (OLTP). The values were chosen on the simulator over the SOURCES.md traces; see
 * docs/design/cache.md for what each changes. */
#define HONE_WINDOW_START 0.01
#define HONE_PROT_SHARE 0.90
#define HONE_STEP 0.03
#define HONE_RESTART 0.05
#define HONE_DECAY 0.98
#define HONE_SAMPLE 10
#define HONE_GHOST_SHARE 0.20
#define HONE_GHOST_UNIT 1.0
#define HONE_SKETCH_WIDTH 8
/* A candidate enters main only if the sketch counts it more than
 * HONE_ADMIT_MARGIN above the victim, while the window is no larger than
 * one climber step (see hone_admit). */
#define HONE_ADMIT_MARGIN 1
/* The ghost bypass keeps a running tally of what it won and lost (see
 * hone_add); the tally is halved past HONE_BET_SPAN so that it follows
 * the workload, and while it is losing, one ghost hit in HONE_BET_PROBE
 * still bypasses, so that the tally can recover; one in HONE_BET_PROBE
 * times the odds against (lost per won) while it loses by more, but at
 * least one per HONE_BET_SPAN. */
#define HONE_BET_SPAN 64
#define HONE_BET_PROBE 8
/* Bets still open (keys let in on a ghost's word, not hit and not yet
 * evicted) are capped at HONE_BET_OPEN of the capacity plus
 * HONE_BET_OPEN_WON per bet the tally counts as won (see hone_add). */
#define HONE_BET_OPEN 0.02
#define HONE_BET_OPEN_WON 6
/* hone's node flags (in the node's freq byte): admitted on a ghost's word
 * and not hit since; and a key whose ghost admission failed (it left again
 * without a hit), whose ghost hits count for nothing until a hit proves
 * it. */
#define FL_BYPASSED 1
#define FL_FAILED 2
/* A ghost flag: a key main let go to make room for a bypassing key; its
 * return is a hit the bypass cost. */
#define FL_DISPLACED 4

/* Count-min sketch of 4-bit counters, 4 rows, halved ("aged") after
 * `sample` increments so that old popularity fades. */
typedef struct sketch {
    uint8_t *t;       /* two counters per byte, in 64-byte blocks */
    uint64_t nblocks; /* 128 counters each: 4 rows of 32 */
    uint64_t adds, sample;
} sketch;

/* hone's state, after the shared one (pol_internal.h). */
typedef struct hpol {
    hone__pol base;
    sketch sk;
    uint64_t window_max, prot_max, hghost_cap;
    uint64_t sample_hits, sample_misses, sample_period;
    double prev_rate, step;
    uint64_t rng;
    uint64_t sk_sized, sk_target; /* lazy sketch growth; 0: sized at once */
    int unit_weights;             /* no weight other than 1 seen yet */
    /* Window hits not yet spent on ghost-driven window growth (capped at
     * the window size): see hone_add. */
    uint64_t win_credit;
    /* The bypass's tally: hits of keys it let in, and returns of keys it
     * displaced; bet_probe counts the ghost hits refused while losing;
     * bet_open the bypassed keys neither hit nor evicted yet (halved with
     * the tally, so that keys removed by the user do not hold it up). */
    uint32_t bet_won, bet_lost, bet_probe, bet_open;
    int bypassing; /* hone_insert is making room for a bypassing key */
} hpol;

#define SKETCH_FIRST 4096

/* ------------------------------------------------------------------ */
/* the frequency sketch                                                */

static int sketch_init(hone__pol *p, uint64_t cap) {
    hpol *h = (hpol *)p;
    /* HONE_SKETCH_WIDTH counters per row for each unit of capacity, in
     * whole blocks; at most 2^22 blocks (256 MiB): beyond that the sketch
     * would cost more than the entries it judges. */
    uint64_t c = cap < 16 ? 16 : cap;
    uint64_t nb = (c * HONE_SKETCH_WIDTH + 31) / 32;
    if (nb > (1ULL << 22)) nb = 1ULL << 22;
    uint8_t *t = hone_calloc(p->alloc, (size_t)(nb * 64), 1);
    if (!t) return HONE_ENOMEM;
    hone_free(p->alloc, h->sk.t);
    h->sk.t = t;
    h->sk.nblocks = nb;
    h->sk.adds = 0;
    h->sk.sample = 10 * (cap ? cap : 1);
    return HONE_OK;
}

/* The block of a key: its hash scaled onto [0, nblocks) (a multiply, not a
 * modulo, so the block count need not be a power of two). */
static uint64_t sk_block(const sketch *s, uint64_t h) {
    return ((h & 0xffffffffu) * s->nblocks) >> 32; /* nblocks <= 2^22: no overflow */
}

static unsigned sk_get(const sketch *s, uint64_t idx) {
    return (s->t[idx >> 1] >> ((idx & 1) * 4)) & 15;
}

static void sk_inc_at(sketch *s, uint64_t idx) {
    s->t[idx >> 1] = (uint8_t)(s->t[idx >> 1] + (1u << ((idx & 1) * 4)));
}

/* The four counters of a key lie in one 64-byte block (128 counters, a
 * 32-counter row each), so that reading or bumping them costs one cache
 * miss instead of four; the block and the positions come from one mix. */
/* The mix of a key that places it in the sketch: block (low half) and
 * counters (high half). */
static uint64_t sk_hash(uint64_t key) { return hone__mix64(key + 0x9e3779b97f4a7c15ULL); }

static void sk_indexes(const sketch *s, uint64_t key, uint64_t idx[4]) {
    uint64_t h = sk_hash(key);
    uint64_t base = sk_block(s, h) * 128;
    uint64_t x = h >> 32;
    for (int r = 0; r < 4; r++) idx[r] = base + (uint64_t)r * 32 + ((x >> (r * 5)) & 31);
}

/* The estimate: the least of a key's four counters. */
static unsigned sk_min(const sketch *s, const uint64_t idx[4]) {
    unsigned m = 15;
    for (int r = 0; r < 4; r++) {
        unsigned v = sk_get(s, idx[r]);
        if (v < m) m = v;
    }
    return m;
}

static unsigned sketch_freq(const sketch *s, uint64_t key) {
    uint64_t idx[4];
    sk_indexes(s, key, idx);
    return sk_min(s, idx);
}

static void sketch_add(sketch *s, uint64_t key) {
    /* Conservative update: only the minimal counters grow, which keeps
     * collisions from inflating rarely seen keys. */
    uint64_t idx[4];
    sk_indexes(s, key, idx);
    unsigned m = sk_min(s, idx);
    if (m == 15) return;
    for (int r = 0; r < 4; r++)
        if (sk_get(s, idx[r]) == m) sk_inc_at(s, idx[r]);
    if (++s->adds >= s->sample) {
        uint64_t bytes = s->nblocks * 64;
        for (uint64_t i = 0; i < bytes; i++) s->t[i] = (uint8_t)((s->t[i] >> 1) & 0x77);
        s->adds /= 2;
    }
}

/* ------------------------------------------------------------------ */
/* hone: W-TinyLFU with a hill-climbing window                        */


static void hone_set_window(hone__pol *p, uint64_t w) {
    hpol *h = (hpol *)p;
    uint64_t minw = 1;
    if (p->cap <= 1) w = p->cap;
    else if (w < minw) w = minw;
    else if (w > p->cap - 1) w = p->cap - 1;
    h->window_max = w;
    h->prot_max = (uint64_t)((double)(p->cap - w) * HONE_PROT_SHARE);
}

static void hone_rebalance(hone__pol *p) {
    hpol *h = (hpol *)p;
    /* A smaller window hands its oldest entries to probation (they keep
     * their place in the cache); a smaller main demotes protected ones. */
    while (p->q[Q_WINDOW].weight > h->window_max && p->q[Q_WINDOW].tail != NIL)
        hone__pol_move(p, Q_PROB, p->q[Q_WINDOW].tail);
    while (p->q[Q_PROT].weight > h->prot_max && p->q[Q_PROT].tail != NIL)
        hone__pol_move(p, Q_PROB, p->q[Q_PROT].tail);
}

static void hone_climb(hone__pol *p, int hit) {
    hpol *h = (hpol *)p;
    if (hit) h->sample_hits++; else h->sample_misses++;
    uint64_t n = h->sample_hits + h->sample_misses;
    if (n < h->sample_period) return;
    double rate = (double)h->sample_hits / (double)n;
    double change = rate - h->prev_rate;
    double amount = change >= 0 ? h->step : -h->step;
    double mag = change < 0 ? -change : change;
    h->step = mag >= HONE_RESTART ? HONE_STEP * (double)p->cap * (amount >= 0 ? 1 : -1)
                                  : HONE_DECAY * amount;
    h->prev_rate = rate;
    h->sample_hits = h->sample_misses = 0;
    int64_t w = (int64_t)h->window_max + (int64_t)amount;
    if (w < 0) w = 0;
    hone_set_window(p, (uint64_t)w);
    hone_rebalance(p);
}

static int hone_admit(hone__pol *p, uint64_t cand, uint64_t victim) {
    hpol *h = (hpol *)p;
    unsigned fc = sketch_freq(&h->sk, cand), fv = sketch_freq(&h->sk, victim);
    /* Hysteresis: a candidate must beat the victim by more than one
     * count. Under a loop or a sweep every key is equally popular, yet the
     * candidate always looks one count ahead: its count includes the
     * access that just brought it in, while the victim (probation's
     * oldest, so the next key the loop needs) has not had its coming
     * access yet. Admitting on that one count replaces a key about to be
     * reused with one that is not needed for a whole pass, which is how
     * LRU gets nothing from a loop longer than the cache; rejecting it
     * keeps main fixed and hits (capacity - window) / loop length, as
     * LIRS does. One count is also the size of the sketch's own noise
     * (halving truncates, conservative update rounds), so a real
     * frequency difference still gets in one access later.
     * The margin holds only while the window is within one climber step
     * (HONE_STEP of the capacity) of its floor. A window that the climber
     * or the window's ghosts have grown past that says the workload pays
     * for recency, and under recency the candidate's one extra count is
     * no loop artefact but the recent access that predicts the next one
     * (a web trace's freshly popular page). Under a loop the window
     * stays at its floor: it earns no hits, so its ghosts cannot grow it
     * (see hone_add), and growing it costs main hits, which the climber
     * sees. */
    unsigned margin = h->window_max <= (uint64_t)(HONE_STEP * (double)p->cap)
                          ? HONE_ADMIT_MARGIN
                          : 0;
    if (fc > fv + margin) return 1;
    /* A popular candidate losing to a more popular victim is still let in
     * now and then, so an attacker cannot pin the victim by flooding. */
    if (fc >= 6) {
        h->rng ^= h->rng << 13, h->rng ^= h->rng >> 7, h->rng ^= h->rng << 17;
        return (h->rng & 127) == 0;
    }
    return 0;
}

/* A bypassed key was hit or left: its bet is no longer open. */
static void hone_bet_close(hpol *h) {
    if (h->bet_open) h->bet_open--;
}

/* Evicts a resident node but remembers its key on ghost list q, trimmed
 * to `limit` weight. */
static void evict_to_ghost(hone__pol *p, uint32_t id, int q, uint64_t limit,
                           hone__pol_evict_fn cb, void *ctx) {
    pnode *n = &p->nodes[id];
    uint64_t key = n->key;
    p->resident_weight -= n->weight;
    p->resident_count--;
    hone__pol_unlink(p, id);
    if (n->freq & FL_BYPASSED) { /* admitted on a ghost's word, never hit */
        n->freq = FL_FAILED;
        hone_bet_close((hpol *)p);
    }
    if (((hpol *)p)->bypassing) n->freq |= FL_DISPLACED;
    if (limit == 0) hone__pol_map_del(p, id);
    else {
        hone__pol_push_head(p, q, id);
        while (p->q[q].weight > limit && p->q[q].tail != NIL) hone__pol_drop(p, p->q[q].tail);
    }
    if (cb) cb(ctx, key);
}

static void hone_evict(hone__pol *p, uint32_t cand, hone__pol_evict_fn cb, void *ctx) {
    hpol *h = (hpol *)p;
    while (p->resident_weight > p->cap) {
        uint32_t victim = p->q[Q_PROB].tail;
        if (victim == NIL) victim = p->q[Q_PROT].tail;
        if (victim == NIL) victim = p->q[Q_WINDOW].tail;
        if (victim == NIL) break;
        if (cand != NIL && cand != victim) {
            if (hone_admit(p, p->nodes[cand].key, p->nodes[victim].key)) {
                evict_to_ghost(p, victim, Q_GM, h->hghost_cap, cb, ctx);
            } else {
                evict_to_ghost(p, cand, Q_GW, h->hghost_cap, cb, ctx);
                cand = NIL;
            }
        } else {
            if (victim == cand) cand = NIL;
            evict_to_ghost(p, victim, p->nodes[victim].q == Q_WINDOW ? Q_GW : Q_GM,
                           h->hghost_cap, cb, ctx);
        }
    }
}

static void hone_bet(hpol *h, int won) {
    if (won) h->bet_won++;
    else h->bet_lost++;
    if (h->bet_won + h->bet_lost > HONE_BET_SPAN)
        h->bet_won /= 2, h->bet_lost /= 2, h->bet_open /= 2;
}

static void hone_hit(hone__pol *p, uint32_t id) {
    hpol *h = (hpol *)p;
    if (p->nodes[id].freq & FL_BYPASSED) {
        hone_bet(h, 1);
        hone_bet_close(h);
    }
    p->nodes[id].freq = 0; /* a hit proves the key, however it came in */
    switch (p->nodes[id].q) {
    case Q_WINDOW:
        hone__pol_move(p, Q_WINDOW, id);
        if (h->win_credit < h->window_max) h->win_credit++;
        break;
    case Q_PROB:
        hone__pol_move(p, Q_PROT, id);
        while (p->q[Q_PROT].weight > h->prot_max && p->q[Q_PROT].tail != NIL)
            hone__pol_move(p, Q_PROB, p->q[Q_PROT].tail);
        break;
    default: hone__pol_move(p, Q_PROT, id); break;
    }
}

/* Inserts a new key into the window, or straight into main segment
 * `direct` (Q_PROB, Q_PROT) when a ghost list vouched for it. */
static void hone_insert(hone__pol *p, uint32_t id, int direct, hone__pol_evict_fn cb,
                        void *ctx) {
    hpol *h = (hpol *)p;
    if (direct != HONE__POL_Q_NONE) {
        hone__pol_push_head(p, direct, id);
        while (p->q[Q_PROT].weight > h->prot_max && p->q[Q_PROT].tail != NIL)
            hone__pol_move(p, Q_PROB, p->q[Q_PROT].tail);
        h->bypassing = 1; /* whatever main lets go now, it lets go for id */
        hone_evict(p, NIL, cb, ctx);
        h->bypassing = 0;
        return;
    }
    if (h->sk_target && p->resident_count > h->sk_sized && h->sk_sized < h->sk_target) {
        uint64_t n = h->sk_sized * 4 < h->sk_target ? h->sk_sized * 4 : h->sk_target;
        if (sketch_init(p, n) == HONE_OK) h->sk_sized = n;
        else h->sk_target = h->sk_sized; /* stay small rather than fail */
    }
    hone__pol_push_head(p, Q_WINDOW, id);
    uint32_t cand = NIL;
    while (p->q[Q_WINDOW].weight > h->window_max && p->q[Q_WINDOW].tail != NIL) {
        cand = p->q[Q_WINDOW].tail;
        hone__pol_move(p, Q_PROB, cand);
    }
    hone_evict(p, cand, cb, ctx);
}

/* ------------------------------------------------------------------ */
/* hone's operations (pol_internal.h)                                  */

/* A hit, from hone__pol_get or replayed by node id (the cache's read
 * buffers): the sketch counts it, the climber samples it, the lists move. */
static inline void hone_get_hit(hone__pol *p, uint32_t id) {
    hpol *h = (hpol *)p;
    sketch_add(&h->sk, p->nodes[id].key);
    hone_climb(p, 1);
    hone_hit(p, id);
}

/* A miss: the sketch counts misses too. */
static void hone_get_miss(hone__pol *p, uint64_t key) {
    hpol *h = (hpol *)p;
    sketch_add(&h->sk, key);
    hone_climb(p, 0);
}

/* The cache's hit path: in this file, so that each hit is applied inline. */
static size_t hone_touch_batch(hone__pol *p, const uint64_t *hits, size_t n) {
    hpol *h = (hpol *)p;
    /* Three passes: the nodes, then what the nodes point at (the sketch
     * block of each key and the list neighbours), then the work. A stale
     * id only costs a useless prefetch: the check before each hit catches
     * it. */
    for (size_t i = 0; i < n; i++) {
        uint32_t id = (uint32_t)(hits[i] >> 32);
        if (id < p->n_nodes) __builtin_prefetch(&p->nodes[id], 1);
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t id = (uint32_t)(hits[i] >> 32);
        if (id >= p->n_nodes) continue;
        const pnode *nd = &p->nodes[id];
        const uint8_t *blk = &h->sk.t[sk_block(&h->sk, sk_hash(nd->key)) * 64];
        __builtin_prefetch(blk, 1);
        __builtin_prefetch(blk + 63, 1); /* the block may straddle two lines */
        if (nd->prev != NIL && nd->prev < p->n_nodes) __builtin_prefetch(&p->nodes[nd->prev], 1);
        if (nd->next != NIL && nd->next < p->n_nodes) __builtin_prefetch(&p->nodes[nd->next], 1);
    }
    size_t applied = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = (uint32_t)(hits[i] >> 32);
        if (!hone__pol_touch_ok(p, id, (uint32_t)hits[i])) continue;
        hone_get_hit(p, id);
        applied++;
    }
    return applied;
}

static int hone_add(hone__pol *p, uint64_t key, uint32_t weight, hone__pol_evict_fn cb,
                    void *ctx) {
    hpol *h = (hpol *)p;
    if (weight != 1) h->unit_weights = 0;
    if (hone__pol_reserve_one(p)) return HONE_ENOMEM;
    uint32_t ghost = hone__pol_map_find(p, key);
    int direct = HONE__POL_Q_NONE, failed = 0;
    if (ghost != NIL) {
        failed = p->nodes[ghost].freq & FL_FAILED;
        if (p->nodes[ghost].q == Q_GM && (p->nodes[ghost].freq & FL_DISPLACED))
            hone_bet(h, 0); /* a bypass cost this miss */
        /* ARC's lesson applied to TinyLFU's window: a key that comes
         * back soon after the window dropped it says the window is too
         * small; one that comes back after main dropped it says main
         * is. This adapts at once, where the hill climber needs whole
         * sample periods, so it helps most on short or shifting
         * workloads; the climber keeps correcting the long run.
         * The window grows on a ghost's word only as fast as it earns
         * hits: one window hit buys one growth. A loop longer than the
         * cache brings back every key the window let go (each looks like
         * proof the window is too small), yet no window short of the
         * whole loop hits anything, so growing it only shrinks main,
         * which is what hits. Whatever recency the window serves (a
         * zigzag, a hot new set) shows up as window hits, and then ghosts
         * move it as before. */
        int q = p->nodes[ghost].q;
        uint64_t gw = p->q[Q_GW].weight, gm = p->q[Q_GM].weight;
        double unit = HONE_GHOST_UNIT * (double)weight;
        if (q == Q_GW && h->win_credit > 0) {
            h->win_credit--;
            double d = gw ? (double)gm / (double)gw : 1;
            if (d < 1) d = 1;
            hone_set_window(p, h->window_max + (uint64_t)(d * unit));
            hone_rebalance(p);
        } else if (q == Q_GM) {
            double d = gm ? (double)gw / (double)gm : 1;
            if (d < 1) d = 1;
            uint64_t dd = (uint64_t)(d * unit);
            hone_set_window(p, h->window_max > dd ? h->window_max - dd : 0);
            hone_rebalance(p);
        }
        /* A ghost hit is proof of reuse the sketch may not show yet
         * (it was aged, or the key was rejected at a tie): the key
         * skips the window and the admission duel, like S3-FIFO's
         * ghost hits go straight to main. Keys main let go return to
         * protected, keys the window let go to probation.
         * Unless the key's last admission on a ghost's word bought no
         * hit: a loop longer than the cache looks like that (every
         * miss is a ghost hit, and letting each in evicts the next key
         * the loop needs, so the cache does no better than LRU, which
         * hits nothing). Such a key takes the window and the duel like
         * a new one until a hit proves it.
         * Nor while the bypass is losing its bet: a bypassing key
         * displaces main's victim, and when the displaced keys come back
         * (a hit the bypass cost) more often than the bypassing keys are
         * hit (a hit it won), the sketch alone judges, save one ghost hit
         * in HONE_BET_PROBE that keeps the tally fresh. On a loop, whose
         * keys tie in the sketch, each bypass evicts the next key the
         * loop needs, which comes back as a main ghost and bypasses in
         * turn: a chain that ends only here.
         * Each probe is itself a bet, and one the tally expects to lose,
         * so probes thin out as the odds against the bypass grow: with
         * odds L = lost / (won + 1) above 1, a probe comes once per L x
         * HONE_BET_PROBE refusals. A zigzag (a sweep back and forth over
         * more keys than the cache holds) is where this pays: its keys
         * tie, main's fixed set already hits as LRU does, and every probe
         * swaps a key main would hit this sweep for one that leaves
         * probation before its next use. The interval stops at
         * HONE_BET_SPAN, the tally's own memory, so that a workload whose
         * bypass starts to pay still turns the tally within a span. */
        uint32_t every = HONE_BET_PROBE, odds = h->bet_lost / (h->bet_won + 1);
        if (odds > 1)
            every = odds * HONE_BET_PROBE < HONE_BET_SPAN ? odds * HONE_BET_PROBE : HONE_BET_SPAN;
        int losing = h->bet_lost > h->bet_won && ++h->bet_probe % every != 0;
        /* Nor while too many bets are open. The tally learns of a lost
         * bet only when a displaced key comes back, and by then a burst of
         * ghost hits may have bypassed wholesale: at a zigzag's reversal
         * every key returns from a ghost list at once, and about a quarter
         * of the capacity bypassed (each displacing a key main would hit
         * this sweep) before the first loss was seen. So the bypass
         * stakes only what it has shown it can win: HONE_BET_OPEN of the
         * capacity on no evidence, HONE_BET_OPEN_WON more per bet won. A
         * workload whose bypasses pay (OLTP) has them hit, which both
         * closes them and raises the limit. Bets are keys, so the share
         * is of the keys the cache holds: its capacity while every weight
         * is 1, else the resident count (a capacity in bytes would leave
         * no limit at all). */
        double keys = h->unit_weights ? (double)p->cap : (double)p->resident_count;
        int full = (double)h->bet_open >=
                   HONE_BET_OPEN * keys + HONE_BET_OPEN_WON * (double)h->bet_won;
        direct = failed || losing || full ? HONE__POL_Q_NONE
                 : q == Q_GW ? Q_PROB
                 : q == Q_GM ? Q_PROT
                             : HONE__POL_Q_NONE;
        hone__pol_drop(p, ghost);
        if (direct != HONE__POL_Q_NONE) h->bet_open++;
    }
    uint32_t id = hone__pol_map_add(p, key);
    p->nodes[id].weight = weight;
    p->resident_weight += weight;
    p->resident_count++;
    p->nodes[id].freq = failed ? FL_FAILED : direct != HONE__POL_Q_NONE ? FL_BYPASSED : 0;
    hone_insert(p, id, direct, cb, ctx);
    return HONE_OK;
}

static void hone_evict_to_cap(hone__pol *p, hone__pol_evict_fn cb, void *ctx) {
    hone_evict(p, NIL, cb, ctx);
}

static void hone_reweigh(hone__pol *p, uint32_t id, uint32_t weight, hone__pol_evict_fn cb,
                         void *ctx) {
    hpol *h = (hpol *)p;
    hone__pol_set_weight(p, id, weight);
    if (weight != 1) h->unit_weights = 0;
    hone_rebalance(p);
    hone_evict(p, NIL, cb, ctx);
}

/* The window keeps its share of the capacity. */
static void hone_resize(hone__pol *p, uint64_t old_cap) {
    hpol *h = (hpol *)p;
    uint64_t capacity = p->cap;
    double share = old_cap ? (double)h->window_max / (double)old_cap : HONE_WINDOW_START;
    hone_set_window(p, (uint64_t)(share * (double)capacity));
    h->step = HONE_STEP * (double)capacity;
    /* The sample period scales with the capacity (it may have been
     * sized from an entry hint, so it is scaled, not recomputed). */
    double period = (double)h->sample_period * (double)capacity / (double)old_cap;
    h->sample_period = period < 1 ? 1 : period > 1e6 ? 1000000 : (uint64_t)period;
    h->hghost_cap = (uint64_t)(HONE_GHOST_SHARE * (double)capacity);
    for (int q = Q_GW; q <= Q_GM; q++)
        while (p->q[q].weight > h->hghost_cap && p->q[q].tail != NIL)
            hone__pol_drop(p, p->q[q].tail);
    hone_rebalance(p);
}

static int hone_init(hone__pol *p, uint64_t entries_hint) {
    hpol *h = (hpol *)p;
    uint64_t capacity = p->cap;
    h->unit_weights = 1;
    h->rng = 0x2545f4914f6cdd1dULL;
    uint64_t size = entries_hint ? entries_hint : capacity;
    if (entries_hint) {
        /* The hint is a guess, so the sketch starts small and grows
         * with the entries actually held (as Caffeine's does). */
        if (size < 16) size = 16;
        h->sk_target = size;
        h->sk_sized = size < SKETCH_FIRST ? size : SKETCH_FIRST;
        if (sketch_init(p, h->sk_sized)) return HONE_ENOMEM;
    } else if (sketch_init(p, size)) {
        return HONE_ENOMEM;
    }
    hone_set_window(p, (uint64_t)((double)capacity * HONE_WINDOW_START));
    h->sample_period = (uint64_t)(HONE_SAMPLE * (double)size);
    if (h->sample_period > 1000000) h->sample_period = 1000000;
    h->step = HONE_STEP * (double)capacity;
    h->hghost_cap = (uint64_t)(HONE_GHOST_SHARE * (double)capacity);
    return HONE_OK;
}

static void hone_fini(hone__pol *p) { hone_free(p->alloc, ((hpol *)p)->sk.t); }

static uint64_t hone_memory(const hone__pol *p) {
    const hpol *h = (const hpol *)p;
    return h->sk.t ? h->sk.nblocks * 64 : 0;
}

/* While every weight is 1, hone's nodes never outnumber the capacity plus
 * both ghost lists (and the one reserve_one takes). */
static uint64_t hone_node_bound(const hone__pol *p) {
    const hpol *h = (const hpol *)p;
    return h->unit_weights ? p->cap + 2 * h->hghost_cap + 2 : 0;
}

const hone__pol_ops hone__pol_hone_ops = {
    .size = sizeof(hpol),
    .resident = 1u << Q_WINDOW | 1u << Q_PROB | 1u << Q_PROT,
    .init = hone_init,
    .fini = hone_fini,
    .hit = hone_get_hit,
    .miss = hone_get_miss,
    .touch_batch = hone_touch_batch,
    .insert = hone_add,
    .evict_to_cap = hone_evict_to_cap,
    .reweigh = hone_reweigh,
    .resize = hone_resize,
    .memory = hone_memory,
    .node_bound = hone_node_bound,
};
