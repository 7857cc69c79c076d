import { ConsistentHashStrategy } from './consistent-hash.js';
import { LeastConnectionsStrategy } from './least-connections.js';
import { P2cEwmaStrategy } from './p2c-ewma.js';
import { type RandomSource, RandomStrategy } from './random.js';
import { RoundRobinStrategy } from './round-robin.js';
import { type BalancerStrategy, type StrategyName, strategyNames } from './strategy.js';
import { WeightedStrategy } from './weighted.js';

export function isStrategyName(s: string): s is StrategyName {
  return (strategyNames as readonly string[]).includes(s);
}

/** A fresh strategy (with its own state) by name; one per service in a client. */
export function createStrategy(
  name: StrategyName,
  options: { random?: RandomSource } = {},
): BalancerStrategy {
  switch (name) {
    case 'round_robin':
      return new RoundRobinStrategy();
    case 'weighted':
      return new WeightedStrategy();
    case 'least_connections':
      return new LeastConnectionsStrategy();
    case 'random':
      return new RandomStrategy(options.random);
    case 'p2c_ewma':
      return new P2cEwmaStrategy(options.random);
    case 'consistent_hash':
      return new ConsistentHashStrategy();
    default: {
      const unknown: never = name;
      throw new RangeError(`unknown balancing strategy: ${String(unknown)}`);
    }
  }
}
