// YAML syntax errors with their exact place, for messages: compose's own (go-yaml) often give the
// line where the enclosing block starts, not the bad line.
import { LineCounter, parseDocument, YAMLError } from "yaml";

/** Formats a `yaml` parse error as `file:line:col: message` followed by yaml's excerpt of the line. */
export function formatYamlError(file: string, e: YAMLError): string {
    const pos = e.linePos?.[0];
    const [first, ...excerpt] = e.message.split("\n");
    const what = first.replace(/ at line \d+, column \d+:?$/, "");
    return `${file}${pos ? `:${pos.line}:${pos.col}` : ""}: ${what} (${e.code})${excerpt.length > 0 ? `\n${excerpt.join("\n").trimEnd()}` : ""}`;
}

/**
 * The first YAML syntax error of a compose file's text, with its exact place (`file:line:col`) and
 * yaml's excerpt of the line; undefined when the text parses.
 */
export function yamlSyntaxError(text: string, file: string): { where: string; message: string } | undefined {
    const doc = parseDocument(text, { lineCounter: new LineCounter(), merge: true, prettyErrors: true });
    const e = doc.errors[0];
    if (e === undefined) return undefined;
    const pos = e.linePos?.[0];
    return { where: pos ? `${file}:${pos.line}:${pos.col}` : file, message: formatYamlError(file, e) };
}
