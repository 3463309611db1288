// The tar archive (ustar) the providers send files in: `docker cp -` into a container, or the stdin
// of a script that unpacks it (gatewayUpstreams.ts).
import type { UploadedFile } from "./engine";

/** A tar archive (ustar) holding `files`, for `docker cp - container:/`. */
export function tarOf(files: UploadedFile[]): Buffer {
    const blocks: Buffer[] = [];
    for (const f of files) {
        const body = Buffer.from(f.content, "utf8");
        const header = Buffer.alloc(512, 0);
        const name = f.path.replace(/^\/+/, "");
        if (Buffer.byteLength(name) > 100) throw new Error(`path too long for upload: ${f.path}`);
        header.write(name, 0, "utf8");
        header.write("0000644\0", 100);
        header.write("0000000\0", 108);
        header.write("0000000\0", 116);
        header.write(body.length.toString(8).padStart(11, "0") + "\0", 124);
        header.write(
            Math.floor(Date.now() / 1000)
                .toString(8)
                .padStart(11, "0") + "\0",
            136,
        );
        header.write("        ", 148); // checksum placeholder: spaces while summing
        header.write("0", 156);
        header.write("ustar\0" + "00", 257);
        let sum = 0;
        for (const byte of header) sum += byte;
        header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
        blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512, 0));
    }
    blocks.push(Buffer.alloc(1024, 0));
    return Buffer.concat(blocks);
}
