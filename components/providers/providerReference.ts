// Dynamic resources whose provider is a reference to a compiled module, not serialized code.
//
// `pulumi.dynamic.Resource` serializes its provider with everything the provider's functions
// capture (Pulumi's closure serializer, which inspects every function through the V8 inspector),
// and puts the text into every resource's inputs as `__provider`. For these providers that was
// 6-24 KB each and ~0.5 s of the program's CPU on every command, before the first resource could
// be registered, and the text went with every Check and Diff call (BENCHMARKS.md).
//
// Here `__provider` is instead a few lines of JavaScript that `require` the compiled module that
// exports the provider (in .dind-compose/build/, written by program.js on every `pulumi up` and
// `preview`). The provider process evaluates them once per provider, as it does the serialized
// text, and gets the very provider object the module exports. The resource is otherwise what
// `pulumi.dynamic.Resource` makes: the same type token, served by the same plugin.
//
// What this changes: an operation runs the provider code of the last build, not the code that was
// current when the resource was created (as with any provider plugin). A `pulumi destroy` or
// `refresh` after the build directory was removed compiles it again first.
import * as path from "path";
import * as pulumi from "../pulumiSdk";

/**
 * Runs in the provider process (its text is embedded in `__provider`): the provider exported as
 * `exportName` by `moduleFile`, compiling the program first when the build is gone. Self-contained:
 * it may use nothing but its arguments and `require`.
 */
function loadProvider(name: string, exportName: string): pulumi.dynamic.ResourceProvider {
    const fs = require("fs");
    const path = require("path");
    // A relative name is the project's own: Pulumi starts the provider process in the project directory.
    const moduleFile = path.resolve(name);
    if (!fs.existsSync(moduleFile)) {
        // <root>/.dind-compose/build/components/providers/<module>.js, see scripts/compile-program.js
        const root = path.resolve(path.dirname(moduleFile), "..", "..", "..", "..");
        require(path.join(root, "scripts", "compile-program.js")).compileProgram(root);
    }
    const provider = require(moduleFile)[exportName];
    if (!provider) throw new Error(`${moduleFile} exports no provider named ${exportName}`);
    return provider;
}

/**
 * The `__provider` text: a module whose `handler()` returns the provider exported as `exportName` by
 * `moduleFile`. A module inside `projectDir` is named relative to it, so the state does not depend
 * on where the checkout is: a moved or renamed checkout, or a second clone on the same backend,
 * finds its own build. (States written before name the absolute path until their next `up`.)
 * @param projectDir the Pulumi project directory; the program runs in it.
 */
export function providerSource(moduleFile: string, exportName: string, projectDir: string = process.cwd()): string {
    const relative = path.relative(projectDir, moduleFile);
    const name = relative.startsWith("..") || path.isAbsolute(relative) ? moduleFile : relative.split(path.sep).join("/");
    return `exports.handler = () => (${loadProvider.toString()})(${JSON.stringify(name)}, ${JSON.stringify(exportName)});\n`;
}

/** Where a resource's provider lives: the compiled module (its `__filename`) and the export's name. */
export interface ProviderReference {
    moduleFile: string;
    exportName: string;
}

/** A dynamic resource (type `pulumi-nodejs:dynamic/<module>:<type>`) whose provider is `provider`'s export. */
export abstract class ReferencedDynamicResource extends pulumi.CustomResource {
    constructor(
        provider: ProviderReference,
        name: string,
        props: pulumi.Inputs,
        opts: pulumi.CustomResourceOptions | undefined,
        module: string,
        type: string,
    ) {
        if (props.__provider !== undefined) throw new Error("a dynamic resource must not define the __provider key");
        super(
            `pulumi-nodejs:dynamic/${module}:${type}`,
            name,
            { ...props, __provider: providerSource(provider.moduleFile, provider.exportName) },
            opts,
        );
    }
}
