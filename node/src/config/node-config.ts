import { ConfigError } from './errors';
import { readJsonFile, resolveFrom } from './files';
import { nodeConfigSchema, type NodeConfigFile } from './schemas';

/** A node config with its paths resolved against the config file's folder. */
export interface NodeConfig extends NodeConfigFile {
  configFile: string;
}

export function loadNodeConfig(file: string, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const raw = readJsonFile(file, nodeConfigSchema);
  return Object.freeze({
    ...raw,
    configFile: file,
    dataDir: resolveFrom(file, raw.dataDir),
    consortiumFile: resolveFrom(file, raw.consortiumFile),
    memberKeyFile: resolveFrom(file, raw.memberKeyFile),
    tls: raw.tls && {
      caFile: resolveFrom(file, raw.tls.caFile),
      certFile: resolveFrom(file, raw.tls.certFile),
      keyFile: resolveFrom(file, raw.tls.keyFile),
    },
    logLevel: logLevelFromEnv(env) ?? raw.logLevel,
  });
}

function logLevelFromEnv(env: NodeJS.ProcessEnv): NodeConfigFile['logLevel'] | undefined {
  const value = env.MAMORI_LOG_LEVEL;
  if (value === undefined || value === '') return undefined;
  const parsed = nodeConfigSchema.shape.logLevel.safeParse(value);
  if (!parsed.success) {
    throw new ConfigError('MAMORI_LOG_LEVEL', [`"${value}" is not a log level; expected one of fatal, error, warn, info, debug, trace, silent`]);
  }
  return parsed.data;
}
