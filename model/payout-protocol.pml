/*
 * The payout protocol of docs/payout-protocol.md, for ONE session, over every interleaving of
 * concurrent and duplicate deliveries of paySession, a crash at every step, Stripe's idempotency
 * (running / stored / replayed / pruned, and refusals it may or may not store), a network that
 * delays and loses, and an abstract clock. Each step names the function of
 * lambdas/transfer/pay-session.ts, shared/payout-plan.ts, shared/stripe-errors.ts or
 * lambdas/reconcile/reconcile.ts (with tools/commands/reconcile.ts) it stands for. model/README.md explains the abstractions; model/check.sh runs it.
 *
 * Properties (assertions; pan built with -DSAFETY):
 *   (a) never two transfers for the session (checked at every creation);
 *   (b) no new key while an earlier request may still run or create: when generation n starts,
 *       no older key is running at Stripe, and an older key under which a request can still
 *       arrive has a stored result (so that request is replayed, never executed);
 *   (c) a transfer that exists is recorded, or the generation that created it is still in
 *       progress (so planPayout goes on to resend or search for it and record it): checked in
 *       every state.
 *
 * Variants (cpp symbols, e.g. `spin -a -DNWORKERS=3 payout-protocol.pml`):
 *   BEFORE_FIX            the protocol before the fix of finding 1 (negative control 1)
 *   END_ON_FRESH_REFUSAL  a fresh refusal ends the generation, as the code did before
 *                         recordRefusal existed (negative control 2)
 *   NWORKERS              concurrent Lambdas, 2 or 3                          (default 3)
 *   NDELIVERIES           deliveries of paySession in all                     (default 3)
 *   MAXGEN                key generations, 2 or 3                             (default 3)
 *   CHECK_B               0 leaves out (b) and (c): a failing run then shows the double transfer
 *   WINDOW_PASSES         0: no reuse window ever passes (shorter trails for the controls)
 *   REFUSALS_STORED       1: Stripe stores every refusal (the assumption before the fix; used to
 *                         show finding 1 on its own)
 *   RECONCILE             0 leaves out the operator's `reconcile --fix`
 *   NETRETRY              1: stripe-node may resend once inside one call (maxNetworkRetries); slow
 *   RELEASE_ON_FRESH_REFUSAL  control 3: recordRefusal gives the reservation back
 *   CHECK_RESERVATION     1 (default): also check that a transfer is only ever created while its
 *                         generation holds its daily-limit reservation
 *
 * printf lines only show when spin replays a trail (spin -t); pan ignores them.
 */

#ifndef NWORKERS
#define NWORKERS 3
#endif
#ifndef NDELIVERIES
#define NDELIVERIES 3
#endif
#ifndef MAX_429_RESENDS
#define MAX_429_RESENDS 1
#endif
#ifndef MAXGEN
#define MAXGEN 3
#endif
#if MAXGEN < 2 || MAXGEN > 3
#error MAXGEN must be 2 or 3
#endif
#ifndef CHECK_B
#define CHECK_B 1
#endif
#ifndef WINDOW_PASSES
#define WINDOW_PASSES 1
#endif
#ifndef REFUSALS_STORED
#define REFUSALS_STORED 0
#endif
#ifndef RECONCILE
#define RECONCILE 1
#endif
#ifndef NETRETRY
#define NETRETRY 0
#endif
#ifndef RELEASE_ON_FRESH_REFUSAL
#define RELEASE_ON_FRESH_REFUSAL 0
#endif
#ifndef CHECK_RESERVATION
#define CHECK_RESERVATION 1
#endif

/* ---- the payout row (table payouts, one per session) ----------------------------------- */
#define P_NONE        0   /* no row yet */
#define P_INPROG      1   /* in_progress */
#define P_PAID        2   /* paid; the session is paid_out */
#define P_REFUSED     3   /* refused */
#define P_NOTRANSFER  4   /* no_transfer */

#define RP_REQUESTED  0   /* recovery_point transfer_requested */
#define RP_SEARCH     1   /* search_required */
#define RP_REJECTED   2   /* key_rejected */

byte pstate = P_NONE;
byte gen = 0;             /* key_generation: key g is payout-<session id>-<g> */
byte rp = RP_REQUESTED;   /* recovery_point */
bit  unknown = 0;         /* BEFORE_FIX only: outcome_unknown */
#if CHECK_RESERVATION
bit  reserved = 0;        /* the current generation holds a payout_reservations row */
#endif

/*
 * The lease (lease_expires_at) is not a variable: safety must not depend on it, and a lease may
 * have expired whenever a claim reads it, so a claim may always go on as if there were none. A
 * claim that stops on a live lease (payout_in_progress), or on anything else that writes nothing
 * to the payout (paused, the session row locked elsewhere, a day over its limit, too many claims
 * in one delivery), is the same as the crash before claimPayout, which the model has at every
 * claim.
 *
 * releasePayoutLease (in releaseForRetry and recordRefusal) updates the row only if the claim still
 * holds it (same claim_count) and the transaction commits; the model lets it update the recovery
 * point whenever the generation still is in progress (more than the code, so a pass is stronger),
 * and the crash after an answer stands for the write that did not happen.
 *
 * The session row is read by planPayout only (recordPaid records whatever it says, flagging
 * paid_after_change), so "the session may be refunded / cancelled and back at any moment" is a
 * free choice each time claimPayout reads it: see the `true ->` options in claimPayout.
 */

/* ---- the abstract clock ------------------------------------------------------------------ */
bit windowPassed[MAXGEN + 1];  /* key g: key_first_used_at + KEY_REUSE_WINDOW (20 h) <= now */
bit settled;                   /* current key: key_last_used_at + REQUEST_SETTLE (1 h) <= now */

/* ---- Stripe: idempotency keys, transfers --------------------------------------------------- */
#define K_NOTSEEN  0      /* never seen, pruned, or only refused without storing anything */
#define K_RUNNING  1      /* a request under the key is executing */
#define K_STORED   2      /* its result is stored and replayed */

#define S_200      1      /* transfer created */
#define S_400      2      /* refusal stored, nothing created (also the stored balance_insufficient) */
#define S_BAL      3      /* BEFORE_FIX only: balance_insufficient, which it treated apart */
#define S_500      4      /* 500 stored, nothing created */
#define S_500C     5      /* 500 stored AFTER the transfer was created */

byte kst[MAXGEN + 1];     /* key state */
byte kans[MAXGEN + 1];    /* stored result */
#define NOBODY 255
byte krunner[MAXGEN + 1] = NOBODY;   /* the worker waiting on the executing request, if any */
byte orph[MAXGEN + 1];    /* requests under the key still on the network, nobody waiting */

byte transfers = 0;       /* transfers Stripe created for the session */
byte tgen = 0;            /* the key generation that created the (first) transfer */

/* ---- what a worker gets back from POST /v1/transfers ----------------------------------------- */
#define A_NONE    0
#define A_200     1       /* 2xx, fresh or replayed */
#define A_400     2       /* a fresh definitive 400/402 (stored or not: the client cannot tell) */
#define A_R400    3       /* a replayed stored refusal (Idempotent-Replayed: true) */
#define A_BAL     4       /* balance_insufficient, fresh or replayed (BEFORE_FIX only) */
#define A_5XX     5       /* a fresh 5xx: from the endpoint, or a 503 from the edge */
#define A_R5XX    6       /* a replayed stored 500 (Idempotent-Replayed: true) */
#define A_409     7       /* idempotency_key_in_use */
#define A_429     8       /* 429, 401, 403, 404 without Stripe's code: refused before the key */
#define A_KEYREJ  9       /* idempotency_error */
#define A_LOST    10      /* timeout, dropped connection: no answer at all */

/* ---- the workers (Lambda invocations running paySession) ------------------------------------ */
#define RQ_NONE  0
#define RQ_NET   1        /* its request is on the network towards Stripe */
#define RQ_RUN   2        /* its request is the one executing under the key */
#define RQ_ANS   3        /* Stripe's answer is on its way back */

byte wint[NWORKERS];      /* the key a live worker claimed and is about to send (its intent) */
byte rq[NWORKERS];        /* the request of its current call */
byte rk[NWORKERS];        /* that request's key */
byte ans[NWORKERS];       /* that request's answer */

byte deliveriesLeft = NDELIVERIES;

/* A worker's claim makes it the key's sole sender (sole) when it started the generation or the
   key's previous send had settled (key_last_used_at + REQUEST_SETTLE <= now); a later claim of
   another worker (which raises claim_count) takes that away */
bit sole[NWORKERS];

inline claimedBy(w) {
  k = 0;
  do
  :: k < NWORKERS -> if :: k != w -> sole[k] = 0 :: else fi; k++
  :: else -> break
  od;
  k = 0
}

/*
 * A request under key k may still reach Stripe: a live worker will send it (it claimed k, or,
 * with NETRETRY, is inside a call under k that stripe-node may resend), or one is on its way.
 */
/* A 429 on its way back: the worker may back off and send k again within its invocation. */
#ifndef BEFORE_FIX
#define RESENDS(w, k) (rq[w] == RQ_ANS && rk[w] == (k) && ans[w] == A_429)
#else
#define RESENDS(w, k) 0
#endif
#if NETRETRY
#define WANTS(w, k) (wint[w] == (k) || (rq[w] != RQ_NONE && rk[w] == (k)))
#else
#define WANTS(w, k) (wint[w] == (k) || (rq[w] == RQ_NET && rk[w] == (k)) || RESENDS(w, k))
#endif
#if NWORKERS == 2
#define CAN_ARRIVE(k) (orph[k] > 0 || WANTS(0, k) || WANTS(1, k))
#elif NWORKERS == 3
#define CAN_ARRIVE(k) (orph[k] > 0 || WANTS(0, k) || WANTS(1, k) || WANTS(2, k))
#else
#error NWORKERS must be 2 or 3
#endif

/* (b), in the transaction that starts generation n, for every older key */
inline assertNoKeyWhileRunning(n, k) {
#if CHECK_B
  k = 1;
  do
  :: k < n ->
     assert(kst[k] != K_RUNNING);
     assert(!CAN_ARRIVE(k) || kst[k] == K_STORED);
     k++
  :: else -> k = 0; break
  od
#else
  skip
#endif
}

/* ====================================================================== The worker's steps */

/* The worker stops waiting (timeout, dropped connection, its Lambda dies): the request goes on. */
inline abandonRequest(w) {
  if
  :: rq[w] == RQ_NET -> orph[rk[w]]++
  :: rq[w] == RQ_RUN -> krunner[rk[w]] = NOBODY
  :: else -> skip
  fi;
  rq[w] = RQ_NONE; rk[w] = 0; ans[w] = A_NONE
}

/* planPayout 'start' (startPayoutGeneration): generation gen + 1, its terms, key_first/last_used_at */
inline startGeneration(w, g, k) {
  printf("W%d claimPayout: planPayout START generation %d (new key)\n", w, gen + 1);
  assertNoKeyWhileRunning(gen + 1, k);
  gen++;
  pstate = P_INPROG; rp = RP_REQUESTED; unknown = 0; settled = 0;
#if CHECK_RESERVATION
  reserved = 1;
#endif
  g = gen; wint[w] = g;
  claimedBy(w); sole[w] = 1
}

/* planPayout 'resend' (retakePayoutLease, sending): the same key and terms; key_last_used_at */
inline resend(w, g) {
  g = gen; sole[w] = settled; settled = 0; wint[w] = g;
  claimedBy(w);
#if CHECK_RESERVATION
  reserved = 1;           /* reserveToday (a day over its limit is a stop: the crash at claim) */
#endif
  printf("W%d claimPayout (no live lease): planPayout RESEND key %d\n", w, g)
}

#ifndef BEFORE_FIX
/*
 * claimPayout: one transaction under the session's row lock, doing what planPayout says.
 * An unfinished generation is settled first, whatever the session says now (planRecovery).
 */
inline claimPayout(w, g, k) {
  if
  :: pstate == P_INPROG ->        /* no live lease (released, or expired by now) */
     if
     :: rp == RP_SEARCH ->                                        /* search_required */
        g = gen; printf("W%d claimPayout (no live lease): planPayout SEARCH (search_required) key %d\n", w, g); goto search
     :: rp == RP_REQUESTED && !windowPassed[gen] -> resend(w, g); goto send
     :: rp != RP_SEARCH && windowPassed[gen] && settled ->        /* past the window, settled */
        g = gen; printf("W%d claimPayout (no live lease): planPayout SEARCH (past the window, settled) key %d\n", w, g); goto search
     :: else -> printf("W%d claimPayout (no live lease): stop, request_unsettled\n", w); goto done
     fi
  :: pstate == P_PAID -> goto done                                /* already recorded */
  :: else ->                                                      /* none, refused, no_transfer */
     if
     :: gen < MAXGEN -> startGeneration(w, g, k); goto send       /* the session is payable */
     :: true -> goto done     /* not payable now (refunded, cancelled, ...), or the model's bound */
     fi
  fi
}
#else
/*
 * BEFORE THE FIX, claimPayout: the session is judged first; an in-progress payout whose outcome
 * is unknown, or whose key is older than 20 h, is searched at once ('recover'), without waiting
 * for an earlier request to finish.
 */
inline claimPayout(w, g, k) {
  if
  :: true -> goto done                                            /* loadAndDecide: not payable */
  :: pstate == P_NONE || pstate == P_REFUSED ->
     if
     :: gen < MAXGEN -> startGeneration(w, g, k); goto send
     :: else -> goto done
     fi
  :: pstate == P_PAID -> goto done
  :: pstate == P_INPROG ->                     /* no lease, or it expired: renewPayoutLease */
     if
     :: unknown || windowPassed[gen] ->
        g = gen; printf("W%d claimPayout: outcome unknown (or key > 20 h old): SEARCH at once, key %d\n", w, g);
        goto search
     :: else -> resend(w, g); goto send
     fi
  fi
}
#endif

/*
 * recordPaid: one transaction. The claim's generation becomes paid if it still is in progress;
 * otherwise the payout row is read again: already paid → nothing (an ERROR if another transfer);
 * another generation in progress → that one is finished as paid; refused / no_transfer / none →
 * adoptTransfer. So whatever the row says, it ends paid. reconcile --fix records the same way.
 */
inline recordPaid(w, g) {
  if
  :: pstate != P_PAID ->
     pstate = P_PAID;
#if CHECK_RESERVATION
     reserved = 0;                    /* the transfer's amount counts for good: no longer "held" */
#endif
     printf("W%d recordPaid: PAID (the transfer of key %d)\n", w, g)
  :: else -> skip
  fi
}

/* endGeneration('refused' | 'no_transfer') (finishPayoutGeneration where key_generation = g and
   state = in_progress, releaseReservations); then claimPayout again */
inline endGeneration(w, g, st) {
  if
  :: pstate == P_INPROG && gen == g ->
     pstate = st;
#if CHECK_RESERVATION
     reserved = 0;
#endif
     if
     :: st == P_REFUSED -> printf("W%d endGeneration(%d, refused): key retired\n", w, g)
     :: else -> printf("W%d endGeneration(%d, no_transfer): key retired\n", w, g)
     fi
  :: else -> skip
  fi
}

/* releaseForRetry: releasePayoutLease at recovery point r (the claim's own unless told), a
   retrying attempt, thrown (BEFORE_FIX: outcome_unknown set when u) */
inline releaseForRetry(w, g, r, u) {
  if
  :: pstate == P_INPROG && gen == g ->
     rp = r; unknown = unknown | u;
     if
     :: u -> printf("W%d releaseForRetry (outcome_unknown)\n", w)
     :: !u && r == RP_SEARCH -> printf("W%d releaseForRetry (search_required)\n", w)
     :: !u && r == RP_REJECTED -> printf("W%d releaseForRetry (key_rejected)\n", w)
     :: else -> printf("W%d releaseForRetry (recovery point unchanged)\n", w)
     fi
  :: else -> skip
  fi
}

/* recordRefusal: the refusal is recorded (failed or retrying). If this worker is the key's sole
   sender (sole[w]: nobody claimed the key since, by claim_count) and every
   request of its call was answered (no stripe-node retry: !retried), no other request under the
   key can still arrive: the key is retired (finishPayoutGeneration ... claim_count) and its
   reservation given back. Otherwise releasePayoutLease: the key and its reservation stay. */
inline recordRefusal(w, g) {
  if
  :: pstate == P_INPROG && gen == g ->
     if
     :: sole[w] && !retried ->
        pstate = P_REFUSED;
#if CHECK_RESERVATION
        reserved = 0;
#endif
        printf("W%d recordRefusal: attempt failed (or retrying), sole sender: key %d retired\n", w, g)
     :: else ->
#if RELEASE_ON_FRESH_REFUSAL && CHECK_RESERVATION
        reserved = 0;                 /* control 3: the reservation given back (the code before) */
#endif
        printf("W%d recordRefusal: attempt failed (or retrying), key %d kept\n", w, g)
     fi
  :: else -> skip
  fi
}

inline sayAnswer(w, a) {
  if
  :: a == A_200 -> printf("W%d sendTransfer: 200, transfer created\n", w)
  :: a == A_400 -> printf("W%d sendTransfer: 400 refused (fresh)\n", w)
  :: a == A_R400 -> printf("W%d sendTransfer: 400 refused (replayed)\n", w)
  :: a == A_BAL -> printf("W%d sendTransfer: 400 balance_insufficient\n", w)
  :: a == A_5XX -> printf("W%d sendTransfer: fresh 5xx\n", w)
  :: a == A_R5XX -> printf("W%d sendTransfer: replayed stored 500\n", w)
  :: a == A_409 -> printf("W%d sendTransfer: 409 idempotency_key_in_use\n", w)
  :: a == A_429 -> printf("W%d sendTransfer: 429 (not executed)\n", w)
  :: a == A_KEYREJ -> printf("W%d sendTransfer: idempotency_error\n", w)
  :: a == A_LOST -> printf("W%d sendTransfer: timeout / connection dropped, no answer\n", w)
  :: else -> skip
  fi
}

/*
 * classifyTransferFailure (shared/stripe-errors.ts), then what sendTransfer does with its kind.
 * Taking the answer in hand changes nothing another process can see, so both in one step loses
 * no interleaving (a crash between them is the same as a crash before the answer came).
 */
#ifndef BEFORE_FIX
inline classifyTransferFailure(w, g, a) {
  sayAnswer(w, a);
  if
  :: a == A_200 -> a = 0; recordPaid(w, g); goto done                       /* created */
  :: a == A_R400 ->                                                 /* refused, stored: true */
     a = 0; endGeneration(w, g, P_REFUSED); g = 0; goto claim
#ifndef END_ON_FRESH_REFUSAL
  :: a == A_400 -> a = 0; recordRefusal(w, g); goto done          /* refused, stored: false */
#else
  /* NEGATIVE CONTROL 2: the fresh refusal ends the generation (the code before recordRefusal:
     endGeneration('refused', error); ended → failed or retrying; not ended → claim again) */
  :: a == A_400 ->
     a = 0;
     if
     :: pstate == P_INPROG && gen == g -> endGeneration(w, g, P_REFUSED); goto done
     :: else -> g = 0; goto claim
     fi
#endif
  :: a == A_R5XX ->                                                         /* stored_failure */
     a = 0; releaseForRetry(w, g, RP_SEARCH, 0); goto done        /* the NEXT delivery searches */
  :: a == A_KEYREJ -> a = 0; releaseForRetry(w, g, RP_REJECTED, 0); goto done /* key_rejected */
#ifndef FORGET_ATTEMPTS_ON_429
  /* rate_limited: back off, then a new call sends the same key in the same claim, within the
     invocation (wint: before the key can be pruned); an attempt of this call that the SDK gave up
     on may still arrive, so the claim stays the key's sole sender only if every attempt of this
     call was answered */
  :: a == A_429 && rl < MAX_429_RESENDS ->
     a = 0; rl++; sole[w] = sole[w] && !retried; retried = 0; wint[w] = g; goto send
  /* out of tries or time, or a 401, 403 or 404 without Stripe's code (also refused before the
     key): unknown, handed back */
  :: a == A_429 -> a = 0; releaseForRetry(w, g, rp, 0); goto done
#else
  /* NEGATIVE CONTROL 4: the new call forgets the attempts of the rate-limited one */
  :: a == A_429 && rl < MAX_429_RESENDS -> a = 0; rl++; retried = 0; wint[w] = g; goto send
  :: a == A_429 -> a = 0; releaseForRetry(w, g, rp, 0); goto done
#endif
  :: else -> a = 0; releaseForRetry(w, g, rp, 0); goto done                 /* unknown */
  fi
}
#else
/* BEFORE THE FIX: callStripe + classifyStripeError */
inline classifyTransferFailure(w, g, a) {
  sayAnswer(w, a);
  if
  :: a == A_200 -> a = 0; recordPaid(w, g); goto done
  :: a == A_400 || a == A_R400 -> a = 0; endGeneration(w, g, P_REFUSED); goto done  /* permanent */
  :: a == A_BAL || a == A_429 -> a = 0; releaseForRetry(w, g, rp, 0); goto done    /* known */
  :: else -> a = 0; releaseForRetry(w, g, rp, 1); goto done       /* outcome_unknown = true */
  fi
}
#endif

/*
 * At any step the Lambda may die (or stop, or throw before writing anything): its committed
 * writes stay, a request it put on the network may still arrive, its intent to send is dropped,
 * and the worker comes back as a fresh Lambda for the next delivery. Each step is
 * `if :: CRASH :: atomic { true -> ... } fi`; the leading `true` keeps an `else` inside the step
 * from being read as the crash's alternative.
 */
#define CRASH goto crashed

proctype worker(byte w) {
  byte g;        /* the generation this delivery works on */
  byte a;        /* the answer it got */
  byte k;        /* scratch */
  bit found;     /* what the search saw */
  bit retried;   /* NETRETRY: stripe-node resent this call once already */
  byte rl;       /* resends after a 429 in this claim (the code allows 3; one shows the pattern) */

end_idle:
  /* one delivery of paySession: the first, an SQS duplicate or redelivery, `payouts retry` */
  if
  :: atomic { deliveriesLeft > 0 -> deliveriesLeft-- }
  :: deliveriesLeft == 0 -> goto end_finished
  fi;

claim:     /* claimPayout (planPayout inside); a claim's sends count their 429s afresh */
  if
  :: CRASH
  :: atomic { true -> rl = 0; claimPayout(w, g, k) }
  fi;

send:      /* sendTransfer: POST /v1/transfers with key g and the generation's frozen terms */
  if
  :: CRASH
  :: atomic { wint[w] = 0; rq[w] = RQ_NET; rk[w] = g; printf("W%d sendTransfer: key %d sent\n", w, g) }
  fi;

wait:      /* the answer, or a timeout / dropped connection (the request goes on) */
  if
  :: CRASH
  :: atomic { rq[w] == RQ_ANS -> a = ans[w]; rq[w] = RQ_NONE; rk[w] = 0; ans[w] = A_NONE;
              classifyTransferFailure(w, g, a) }
  /* or no answer it can trust, while the request goes on: a timeout, a dropped connection, or a
     5xx from Stripe's edge (a 502/504 in front of a request still executing) */
  :: atomic { true -> abandonRequest(w);
              if
              :: a = A_LOST
              :: a = A_5XX
              fi;
              classifyTransferFailure(w, g, a) }
#if NETRETRY
  /* stripe-node's own retry inside the same call (maxNetworkRetries), same key */
  :: atomic { !retried -> abandonRequest(w); rq[w] = RQ_NET; rk[w] = g; retried = 1; goto wait }
#endif
  fi;

record:    /* recordPaid, after a search found the transfer */
  if
  :: CRASH
  :: atomic { true -> recordPaid(w, g); goto done }
  fi;

search:    /* searchForTransfer: the destination's transfers since first send - margin, all pages */
  if
  :: CRASH
  :: atomic { found = (transfers > 0 && tgen >= g);               /* read-after-write consistent */
              printf("W%d searchForTransfer key %d: found %d\n", w, g, found) }
#ifndef BEFORE_FIX
  /* any failure of the search, 4xx included: releaseForRetry, recovery point unchanged, thrown */
  :: atomic { true -> releaseForRetry(w, g, rp, 0); goto done }
#else
  :: atomic { true -> printf("W%d search 4xx: recorded as a refusal\n", w);
              endGeneration(w, g, P_REFUSED); goto done }
  :: atomic { true -> releaseForRetry(w, g, rp, 1); goto done }   /* 5xx, dropped */
#endif
  fi;
  if
  :: found -> found = 0; goto record
  :: else
  fi;
#ifndef BEFORE_FIX
  /* none: endGeneration('no_transfer'), then claimPayout again */
  if
  :: CRASH
  :: atomic { true -> endGeneration(w, g, P_NOTRANSFER); g = 0; goto claim }
  fi;
#else
  /* none: startFreshGeneration, a new key at once */
  if
  :: CRASH
  :: atomic { true ->
       if
       :: pstate == P_INPROG && gen == g && gen < MAXGEN -> startGeneration(w, g, k); goto send
       :: else -> goto done
       fi
     }
  fi;
#endif

crashed:
  atomic { abandonRequest(w); wint[w] = 0; printf("W%d CRASHES (or stops)\n", w); goto done }
done:
  atomic { g = 0; a = 0; k = 0; found = 0; retried = 0; rl = 0; sole[w] = 0 }
  goto end_idle;
end_finished:
  skip
}

/* ========================================================= Stripe: idempotency, the edge */

inline replayOf(s, r) {
  if
  :: s == S_200 -> r = A_200
  :: s == S_400 -> r = A_R400
  :: s == S_BAL -> r = A_BAL
  :: else -> r = A_R5XX                            /* S_500, S_500C */
  fi
}

inline freshOf(s, r) {
  if
  :: s == S_200 -> r = A_200
  :: s == S_400 -> r = A_400
  :: s == S_BAL -> r = A_BAL
  :: else -> r = A_5XX
  fi
}

/*
 * A worker's request reaches Stripe, possibly long after it was sent. Whether Stripe stores a
 * refusal is its choice: a request under an unseen key may be refused before it executes, with
 * NOTHING stored (the key stays unseen, so a later request under it executes afresh and may
 * create, e.g. once the account is fixed), or executed and refused with the refusal stored
 * (finish). A refusal before Stripe even looks at the key (whatever its state) writes, in the
 * fixed protocol, the same as the 429 branch (recordRefusal and releaseForRetry both keep the
 * key and its recovery point), so the 429 branch stands for it.
 */
inline arrive(w, k) {
  k = rk[w];
  if
  :: ans[w] = A_429; rq[w] = RQ_ANS               /* 429 / 401 / 403 / 404: nothing executed */
  :: ans[w] = A_5XX; rq[w] = RQ_ANS               /* a 503 from the edge: nothing executed */
#if !REFUSALS_STORED
  :: kst[k] == K_NOTSEEN -> ans[w] = A_400; rq[w] = RQ_ANS;     /* refused, NOT stored */
     printf("Stripe: key %d from W%d refused before execution, nothing stored\n", k, w)
#endif
  :: kst[k] == K_STORED -> replayOf(kans[k], ans[w]); rq[w] = RQ_ANS
  :: kst[k] == K_RUNNING -> ans[w] = A_409; rq[w] = RQ_ANS
  :: kst[k] != K_NOTSEEN -> ans[w] = A_KEYREJ; rq[w] = RQ_ANS    /* as if used with other terms */
  :: kst[k] == K_NOTSEEN ->
     kst[k] = K_RUNNING; krunner[k] = w; rq[w] = RQ_RUN;
     printf("Stripe: key %d from W%d begins executing\n", k, w)
  fi;
  k = 0
}

/* a request nobody waits for any more reaches Stripe, or is lost on the way */
inline orphanArrives(k) {
  orph[k]--;
  if
  :: skip        /* lost, refused at the edge or unstored, replayed, or 409: nothing happens */
  :: kst[k] == K_NOTSEEN ->
     kst[k] = K_RUNNING; krunner[k] = NOBODY;
     printf("Stripe: an earlier request under key %d arrives, begins executing\n", k)
  fi
}

/* the executing request under key k finishes, and its result is stored */
inline finish(k, w) {
  if
  :: kans[k] = S_200; transfers++; tgen = k
  :: kans[k] = S_400
#ifdef BEFORE_FIX
  :: kans[k] = S_BAL
#endif
  :: kans[k] = S_500
  :: kans[k] = S_500C; transfers++; tgen = k
  fi;
  kst[k] = K_STORED;
  if
  :: kans[k] == S_200 -> printf("Stripe: key %d finishes: transfer CREATED (%d in all), 200 stored\n", k, transfers)
  :: kans[k] == S_500C -> printf("Stripe: key %d finishes: transfer CREATED (%d in all), 500 stored\n", k, transfers)
  :: kans[k] == S_400 -> printf("Stripe: key %d finishes: refused, 400 stored\n", k)
  :: else -> printf("Stripe: key %d finishes without a transfer, stores %d (3=balance 4=500)\n", k, kans[k])
  fi;
  assert(transfers <= 1);                                                            /* (a) */
#if CHECK_RESERVATION
  assert(kans[k] == S_400 || kans[k] == S_500 || (k == gen && reserved));
#endif
  w = krunner[k]; krunner[k] = NOBODY;
  if
  :: w != NOBODY -> assert(rq[w] == RQ_RUN && rk[w] == k); freshOf(kans[k], ans[w]); rq[w] = RQ_ANS
  :: else -> skip
  fi;
  w = 0
}

active proctype stripe() {
  byte k, w;
end_stripe:
  do
  :: atomic { rq[0] == RQ_NET -> arrive(0, k) }
  :: atomic { rq[1] == RQ_NET -> arrive(1, k) }
#if NWORKERS > 2
  :: atomic { rq[2] == RQ_NET -> arrive(2, k) }
#endif
  :: atomic { orph[1] > 0 -> orphanArrives(1) }
  :: atomic { orph[2] > 0 -> orphanArrives(2) }
#if MAXGEN > 2
  :: atomic { orph[3] > 0 -> orphanArrives(3) }
#endif
  :: atomic { kst[1] == K_RUNNING -> finish(1, w) }
  :: atomic { kst[2] == K_RUNNING -> finish(2, w) }
#if MAXGEN > 2
  :: atomic { kst[3] == K_RUNNING -> finish(3, w) }
#endif
  od
}

/* ======================================================================== The world: time */

/*
 * Time is abstract. Key k's reuse window passes at any moment (planPayout then never resends k).
 * The current key settles (last sent > 1 h ago) only once no request under it is running, on the
 * network, or about to be sent by a live worker: no Lambda lives past 15 min after its claim and
 * Stripe finishes in seconds. Stripe prunes key k only past its window and once no request
 * under k can still arrive: its 24 h retention exceeds the 20 h window plus a Lambda's 15 min.
 * (Leases are not modelled: a claim may always take the payout as if the lease had expired.)
 */
#if WINDOW_PASSES
#define WINDOW(k)  :: atomic { k <= gen && !windowPassed[k] -> windowPassed[k] = 1; printf("time: key %d past its reuse window\n", k) }
#else
#define WINDOW(k)
#endif
#define SETTLE(k)  :: atomic { k == gen && pstate == P_INPROG && !settled && kst[k] != K_RUNNING && !CAN_ARRIVE(k) -> settled = 1; printf("time: key %d settled\n", k) }
#define PRUNE(k)   :: atomic { windowPassed[k] && kst[k] == K_STORED && !CAN_ARRIVE(k) -> kst[k] = K_NOTSEEN; kans[k] = 0; printf("Stripe: key %d pruned\n", k) }

active proctype world() {
end_world:
  do
  WINDOW(1)
  WINDOW(2)
  SETTLE(1)
  SETTLE(2)
  PRUNE(1)
  PRUNE(2)
#if MAXGEN > 2
  WINDOW(3)
  SETTLE(3)
  PRUNE(3)
#endif
  od
}

/* ================================================================= The operator's commands */

/*
 * `payouts retry` (and `dlq redrive`) only enqueue: one more delivery, inside NDELIVERIES.
 * `reconcile --fix` (lambdas/reconcile/reconcile.ts, with the recording tools/commands/reconcile.ts passes): lists Stripe's transfers for the session, then records
 * the oldest via recordPaid if the payout is not yet paid. A run that lists none, fails or dies
 * changes nothing, the same as not running at all, so the listing step is taken only once there
 * is a transfer to see.
 */
#if RECONCILE
active proctype reconcileFix() {
end_reconcile:
  atomic { transfers > 0 -> printf("reconcile --fix: lists the session's transfer\n") }
end_reconcile_listed:
  atomic { pstate != P_PAID -> pstate = P_PAID;
#if CHECK_RESERVATION
           reserved = 0;
#endif
           printf("reconcile --fix: recordPaid\n") }
}
#endif

/* (c), in every state */
#if CHECK_B
active proctype recoverable() {
end_recoverable:
  atomic {
    !(transfers == 0 || pstate == P_PAID || (pstate == P_INPROG && tgen == gen)) ->
    assert(transfers == 0 || pstate == P_PAID || (pstate == P_INPROG && tgen == gen))
  }
}
#endif

init {
  byte i;
  atomic {
    do
    :: i < NWORKERS -> run worker(i); i++
    :: else -> i = 0; break
    od
  }
}
