export interface BenchArgs {
  quick: boolean;
  /** Where the results go; default bench/results. */
  out?: string;
  /** Names of contenders, `proxies` (all of them) or scenarios; empty: everything. */
  only: string[];
  rounds?: number;
  durationS?: number;
  warmupS?: number;
  latencyS?: number;
  primeS?: number;
  tool?: 'wrk' | 'autocannon';
  balancer?: string;
  /** NODE_OPTIONS of every meshkit gateway the bench starts (e.g. a V8 heap flag to try). */
  gatewayNodeOptions?: string;
  noPin: boolean;
  /** Profile the meshkit gateway under load instead of the comparison. */
  profile: boolean;
  help: boolean;
}

export class UsageError extends Error {}

/** A failure the harness explains in one message (a backend missing); no stack needed. */
export class BenchError extends Error {}

export const usage = `npm run bench -- [options]

  --quick              one ~1 s round per contender (CI's smoke test: ~40 s, plus the scenarios)
  --out <dir>          write <date>.md and <date>.svg there (default bench/results)
  --only <names>       comma list: \`proxies\` (every contender), contender ids (direct is always
                       added), or scenario names from bench/scenarios
  --rounds <n>         interleaved rounds (default 3; quick 1)
  --duration <s>       measured seconds per contender per round (default 10; quick 1)
  --prime <s>          warm-up of each contender once, before the first round: at least <s>, until
                       req/s is steady, at most 3 × <s> (default 10; quick 1)
  --warmup <s>         warm-up seconds before each measured run (default 2; quick 0)
  --latency <s>        seconds of the 1-connection latency run (default 5; quick 1)
  --tool wrk|autocannon  load generator (default wrk when installed)
  --balancer <name>    BALANCER of the meshkit gateway (default: its own default)
  --gateway-node-options <s>
                       NODE_OPTIONS of every meshkit gateway the bench starts, contenders and
                       scenarios alike (e.g. "--max-semi-space-size=8"); the report says so
  --no-pin             do not pin processes to cores
  --profile            CPU-profile the meshkit gateway under load (node --cpu-prof) and
                       write <date>-profile.md with its top self-time functions
                       (--only meshkit-quiet: the gateway at LOG_LEVEL=warn instead)
`;

export function parseArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = { quick: false, only: [], noPin: false, profile: false, help: false };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const seconds = (v: string, flag: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be a whole number ≥ ${min}, got "${v}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    switch (flag) {
      case '--quick':
        args.quick = true;
        break;
      case '--out':
        args.out = value(i++, flag);
        break;
      case '--only':
        args.only.push(...value(i++, flag).split(',').map((s) => s.trim()).filter(Boolean));
        break;
      case '--rounds':
        args.rounds = seconds(value(i++, flag), flag, 1);
        break;
      case '--duration':
        args.durationS = seconds(value(i++, flag), flag, 1);
        break;
      case '--warmup':
        args.warmupS = seconds(value(i++, flag), flag, 0);
        break;
      case '--prime':
        args.primeS = seconds(value(i++, flag), flag, 0);
        break;
      case '--latency':
        args.latencyS = seconds(value(i++, flag), flag, 1);
        break;
      case '--tool': {
        const v = value(i++, flag);
        if (v !== 'wrk' && v !== 'autocannon') throw new UsageError(`--tool must be wrk or autocannon, got "${v}"`);
        args.tool = v;
        break;
      }
      case '--balancer':
        args.balancer = value(i++, flag);
        break;
      case '--gateway-node-options': {
        // Its value is itself Node flags ("--max-semi-space-size=8"), so a leading -- is allowed.
        const v = argv[++i];
        if (v === undefined || v.trim() === '') throw new UsageError(`${flag} needs a value`);
        args.gatewayNodeOptions = v;
        break;
      }
      case '--no-pin':
        args.noPin = true;
        break;
      case '--profile':
        args.profile = true;
        break;
      case '--help':
      case '-h':
        args.help = true;
        break;
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  return args;
}
