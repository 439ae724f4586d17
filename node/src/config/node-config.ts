import { ConfigError } from './errors';
import { readJsonFile, resolveFrom } from './files';
import { nodeConfigSchema, type NodeConfigFile, type TlsFilesConfig } from './schemas';

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
    tls: raw.tls && resolveTlsFiles(file, raw.tls),
    apiTls: raw.apiTls && resolveTlsFiles(file, raw.apiTls),
    logLevel: logLevelFromEnv(env) ?? raw.logLevel,
  });
}

function resolveTlsFiles(file: string, tls: TlsFilesConfig): TlsFilesConfig {
  return { caFile: resolveFrom(file, tls.caFile), certFile: resolveFrom(file, tls.certFile), keyFile: resolveFrom(file, tls.keyFile) };
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
