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
    logLevel: (env.MAMORI_LOG_LEVEL as NodeConfigFile['logLevel'] | undefined) ?? raw.logLevel,
  });
}
