// FileDescriptorProtos of .proto files as protoc writes them (`protoc --include_imports
// --descriptor_set_out`): one per file, named as imported, with the file's own package,
// imports and options, snake_case field names with their json_name, fully qualified type
// names, map entries named `<FieldName>Entry` and proto3-optional oneofs last. Server
// reflection serves these (operations.ts); test/ops/reflection-descriptors.test.ts compares
// them, as reflection returns them, with protoc's own output, so any difference fails there.
//
// Built with protobufjs's parser (keepCase) rather than its `Root#toDescriptor`, which merges
// every file of a package into one made-up file, keeps type names relative, leaves out
// json_name and names map entries after the field alone. Not supported (refused, so a .proto
// that uses them cannot be served wrong): proto2 and editions, extensions, groups, custom
// options.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import * as descriptor from 'protobufjs/ext/descriptor';

export interface ProtoFiles {
  /** The include directory (protoc's -I) the names below are relative to. */
  includeDir: string;
  /** Files to describe, as imported ("mamori/v1/exchange.proto"); their imports come too. */
  files: readonly string[];
  /** The name a file is served under when it differs from its path (health's canonical name). */
  servedAs?: Readonly<Record<string, string>>;
}

/** FieldDescriptorProto.Type of protobufjs's scalar type names. */
const SCALAR_TYPES: Readonly<Record<string, number>> = {
  double: 1, float: 2, int64: 3, uint64: 4, int32: 5, fixed64: 6, fixed32: 7, bool: 8,
  string: 9, bytes: 12, uint32: 13, sfixed32: 15, sfixed64: 16, sint32: 17, sint64: 18,
};
const TYPE_MESSAGE = 11;
const TYPE_ENUM = 14;
const LABEL_OPTIONAL = 1;
const LABEL_REPEATED = 3;
/** protobufjs's "max" in reserved ranges; a message's reserved range end is exclusive. */
const MAX_FIELD_NUMBER = 0x1fffffff;

/** protoc's ToJsonName: underscores dropped, the letter after one upper-cased. */
export function jsonNameOf(fieldName: string): string {
  let out = '';
  let capitalizeNext = false;
  for (const c of fieldName) {
    if (c === '_') capitalizeNext = true;
    else {
      out += capitalizeNext ? c.toUpperCase() : c;
      capitalizeNext = false;
    }
  }
  return out;
}

/** protoc's MapEntryName: "rejections" -> "RejectionsEntry", "by_reason" -> "ByReasonEntry". */
export function mapEntryNameOf(fieldName: string): string {
  let out = '';
  let capitalizeNext = true;
  for (const c of fieldName) {
    if (c === '_') capitalizeNext = true;
    else {
      out += capitalizeNext && c >= 'a' && c <= 'z' ? c.toUpperCase() : c;
      capitalizeNext = false;
    }
  }
  return `${out}Entry`;
}

function camel(optionName: string): string {
  return optionName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** An options message from protobufjs's options object (option names as written). */
function optionsOf(options: Record<string, unknown> | undefined, type: protobuf.Type, where: string, ignore: readonly string[] = []): object | undefined {
  if (!options) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (ignore.includes(name)) continue;
    if (name.startsWith('(')) throw new Error(`${where}: custom option ${name} is not supported by the reflection descriptors`);
    const field = type.fields[camel(name)];
    if (!field) throw new Error(`${where}: option ${name} is not a ${type.name} field`);
    out[field.name] = value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function typeNameOf(resolved: protobuf.Type | protobuf.Enum | null, where: string): { type: number; typeName: string } {
  if (resolved instanceof protobuf.Type) return { type: TYPE_MESSAGE, typeName: resolved.fullName };
  if (resolved instanceof protobuf.Enum) return { type: TYPE_ENUM, typeName: resolved.fullName };
  throw new Error(`${where}: unresolved type`);
}

function scalarOrNamed(typeName: string, resolved: protobuf.Type | protobuf.Enum | null, where: string): { type: number; typeName?: string } {
  const scalar = SCALAR_TYPES[typeName];
  return scalar !== undefined && !resolved ? { type: scalar } : typeNameOf(resolved, where);
}

function messageDescriptor(type: protobuf.Type): Record<string, unknown> {
  const where = type.fullName.slice(1);
  if (type.extensions?.length) throw new Error(`${where}: extension ranges are not supported by the reflection descriptors`);
  // protoc lists real oneofs first, then the synthetic one of each proto3 `optional` field.
  const synthetic = (o: protobuf.OneOf) => o.fieldsArray.length === 1 && o.fieldsArray[0]?.options?.['proto3_optional'] === true;
  const oneofs = [...type.oneofsArray.filter((o) => !synthetic(o)), ...type.oneofsArray.filter(synthetic)];
  const mapEntries: Record<string, unknown>[] = [];
  const fields = type.fieldsArray.map((field) => {
    const at = `${where}.${field.name}`;
    if (field.extend !== undefined) throw new Error(`${at}: extensions are not supported by the reflection descriptors`);
    if ((field.resolvedType as { group?: boolean } | null)?.group) throw new Error(`${at}: groups are not supported`);
    const out: Record<string, unknown> = { name: field.name, number: field.id };
    if (field instanceof protobuf.MapField) {
      const entryName = mapEntryNameOf(field.name);
      out['label'] = LABEL_REPEATED;
      out['type'] = TYPE_MESSAGE;
      out['typeName'] = `${type.fullName}.${entryName}`;
      const keyType = SCALAR_TYPES[field.keyType];
      if (keyType === undefined) throw new Error(`${at}: map key type ${field.keyType}`);
      mapEntries.push({
        name: entryName,
        field: [
          { name: 'key', number: 1, label: LABEL_OPTIONAL, type: keyType, jsonName: 'key' },
          { name: 'value', number: 2, label: LABEL_OPTIONAL, ...scalarOrNamed(field.type, field.resolvedType, at), jsonName: 'value' },
        ],
        options: { mapEntry: true },
      });
    } else {
      out['label'] = field.repeated ? LABEL_REPEATED : LABEL_OPTIONAL;
      Object.assign(out, scalarOrNamed(field.type, field.resolvedType, at));
    }
    if (field.partOf) out['oneofIndex'] = oneofs.indexOf(field.partOf);
    out['jsonName'] = jsonNameOf(field.name);
    const options = optionsOf(field.options, descriptor.FieldOptions, at, ['proto3_optional']);
    if (options) out['options'] = options;
    if (field.options?.['proto3_optional'] === true) out['proto3Optional'] = true;
    return out;
  });
  const nestedTypes: Record<string, unknown>[] = [];
  const enumTypes: Record<string, unknown>[] = [];
  for (const nested of type.nestedArray) {
    if (nested instanceof protobuf.Type) nestedTypes.push(messageDescriptor(nested));
    else if (nested instanceof protobuf.Enum) enumTypes.push(enumDescriptor(nested));
    else throw new Error(`${where}: nested ${nested.name} (extensions and the like) is not supported by the reflection descriptors`);
  }
  const reservedRanges = (type.reserved ?? []).filter((r): r is number[] => Array.isArray(r));
  const reservedNames = (type.reserved ?? []).filter((r): r is string => typeof r === 'string');
  const out: Record<string, unknown> = {
    name: type.name,
    field: fields,
    // protoc appends a map's entry when it reads the field; nested messages are usually declared first.
    nestedType: [...nestedTypes, ...mapEntries],
    enumType: enumTypes,
    oneofDecl: oneofs.map((o) => ({ name: o.name, ...(optionsOf(o.options, descriptor.OneofOptions, `${where}.${o.name}`) ? { options: optionsOf(o.options, descriptor.OneofOptions, where) } : {}) })),
    reservedRange: reservedRanges.map(([start, end]) => ({ start, end: (end as number) >= MAX_FIELD_NUMBER ? MAX_FIELD_NUMBER + 1 : (end as number) + 1 })),
    reservedName: reservedNames,
  };
  const options = optionsOf(type.options, descriptor.MessageOptions, where);
  if (options) out['options'] = options;
  return out;
}

function enumDescriptor(enumeration: protobuf.Enum): Record<string, unknown> {
  const where = enumeration.fullName.slice(1);
  const valuesOptions = (enumeration as { valuesOptions?: Record<string, Record<string, unknown>> }).valuesOptions ?? {};
  const out: Record<string, unknown> = {
    name: enumeration.name,
    value: Object.entries(enumeration.values).map(([name, number]) => {
      const options = optionsOf(valuesOptions[name], descriptor.EnumValueOptions, `${where}.${name}`);
      return { name, number, ...(options ? { options } : {}) };
    }),
    reservedRange: (enumeration.reserved ?? []).filter((r): r is number[] => Array.isArray(r)).map(([start, end]) => ({ start, end })),
    reservedName: (enumeration.reserved ?? []).filter((r): r is string => typeof r === 'string'),
  };
  const options = optionsOf(enumeration.options, descriptor.EnumOptions, where);
  if (options) out['options'] = options;
  return out;
}

function serviceDescriptor(service: protobuf.Service): Record<string, unknown> {
  const where = service.fullName.slice(1);
  const out: Record<string, unknown> = {
    name: service.name,
    method: service.methodsArray.map((method) => {
      const at = `${where}.${method.name}`;
      const m: Record<string, unknown> = {
        name: method.name,
        inputType: typeNameOf(method.resolvedRequestType, at).typeName,
        outputType: typeNameOf(method.resolvedResponseType, at).typeName,
      };
      // protoc sets these only for `stream`.
      if (method.requestStream) m['clientStreaming'] = true;
      if (method.responseStream) m['serverStreaming'] = true;
      const options = optionsOf(method.options, descriptor.MethodOptions, at);
      if (options) m['options'] = options;
      return m;
    }),
  };
  const options = optionsOf(service.options, descriptor.ServiceOptions, where);
  if (options) out['options'] = options;
  return out;
}

interface FileParts {
  messageType: Record<string, unknown>[];
  enumType: Record<string, unknown>[];
  service: Record<string, unknown>[];
}

/** Every top-level message, enum and service of the loaded files, by the absolute path of its file. */
function collectByFile(ns: protobuf.NamespaceBase, byFile: Map<string, FileParts>): void {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type || nested instanceof protobuf.Enum || nested instanceof protobuf.Service) {
      const file = nested.filename;
      if (!file) throw new Error(`${nested.fullName}: no file recorded by the parser`);
      let parts = byFile.get(file);
      if (!parts) byFile.set(file, (parts = { messageType: [], enumType: [], service: [] }));
      if (nested instanceof protobuf.Type) parts.messageType.push(messageDescriptor(nested));
      else if (nested instanceof protobuf.Enum) parts.enumType.push(enumDescriptor(nested));
      else parts.service.push(serviceDescriptor(nested));
    } else if (nested instanceof protobuf.Field) {
      throw new Error(`${nested.fullName}: extensions are not supported by the reflection descriptors`);
    } else if (nested instanceof protobuf.Namespace) {
      collectByFile(nested, byFile);
    }
  }
}

/**
 * The FileDescriptorProtos of the given files and everything they import, dependencies
 * before the files that import them (protoc's --include_imports order).
 */
export function describeProtoFiles(spec: ProtoFiles): descriptor.IFileDescriptorProto[] {
  const absolute = (name: string) => path.join(spec.includeDir, name);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : absolute(target));
  root.loadSync(spec.files.map(absolute), { keepCase: true });
  root.resolveAll();
  const byFile = new Map<string, FileParts>();
  collectByFile(root, byFile);

  const ordered: descriptor.IFileDescriptorProto[] = [];
  const done = new Set<string>();
  const visit = (name: string, chain: readonly string[]) => {
    if (done.has(name)) return;
    if (chain.includes(name)) throw new Error(`import cycle: ${[...chain, name].join(' -> ')}`);
    // Parsed alone for what belongs to the file itself: package, imports, syntax and options.
    const source = fs.readFileSync(absolute(name), 'utf8');
    if (!/^\s*syntax\s*=\s*["']proto3["']\s*;/m.test(source) || /^\s*edition\s*=/m.test(source)) {
      throw new Error(`${name}: only proto3 files are supported by the reflection descriptors`);
    }
    const parsed = protobuf.parse(source, new protobuf.Root(), { keepCase: true });
    if (parsed.weakImports?.length) throw new Error(`${name}: weak imports are not supported`);
    const imports = parsed.imports ?? [];
    for (const dependency of imports) visit(dependency, [...chain, name]);
    const packageNs = parsed.package ? parsed.root.lookup(parsed.package) : parsed.root;
    const parts = byFile.get(absolute(name)) ?? { messageType: [], enumType: [], service: [] };
    const file: Record<string, unknown> = {
      name: spec.servedAs?.[name] ?? name,
      ...(parsed.package ? { package: parsed.package } : {}),
      dependency: imports.map((d) => spec.servedAs?.[d] ?? d),
      ...parts,
      syntax: 'proto3',
    };
    // Options written before the package statement land on the root.
    const options = optionsOf({ ...parsed.root.options, ...(packageNs === parsed.root ? {} : packageNs?.options) }, descriptor.FileOptions, name);
    if (options) file['options'] = options;
    ordered.push(descriptor.FileDescriptorProto.fromObject(file) as descriptor.IFileDescriptorProto);
    done.add(name);
  };
  for (const name of spec.files) visit(name, []);
  return ordered;
}

/** One FileDescriptorProto's bytes. */
export function encodeFileDescriptor(file: descriptor.IFileDescriptorProto): Uint8Array {
  return descriptor.FileDescriptorProto.encode(file).finish();
}
