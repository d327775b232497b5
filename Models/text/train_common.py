"""What train_loopformer.py and train_memoryformer.py share: the optimizer and schedule options, the
learning-rate schedule and the training log."""
import math
import os


def add_schedule_args(ap, *, batch_size, max_iters, warmup_iters, learning_rate, min_lr, eval_interval,
                      eval_iters, seed):
    """The options both scripts take, each with the script's own default (weight decay 0.1, one thread)."""
    ap.add_argument("--batch-size", type=int, default=batch_size)
    ap.add_argument("--max-iters", type=int, default=max_iters)
    ap.add_argument("--warmup-iters", type=int, default=warmup_iters)
    ap.add_argument("--learning-rate", type=float, default=learning_rate)
    ap.add_argument("--min-lr", type=float, default=min_lr)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--eval-interval", type=int, default=eval_interval)
    ap.add_argument("--eval-iters", type=int, default=eval_iters)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=seed)


def cosine_lr(it, args):
    """The official train.py's schedule: linear warm-up, then cosine decay to min_lr over the whole run."""
    if it < args.warmup_iters:
        return args.learning_rate * (it + 1) / (args.warmup_iters + 1)
    ratio = min(1.0, (it - args.warmup_iters) / max(1, args.max_iters - args.warmup_iters))
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (args.learning_rate - args.min_lr)


def open_log(out):
    """A say(msg) that prints msg and appends it to out/train.log."""
    log = open(os.path.join(out, "train.log"), "a")

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    return say
