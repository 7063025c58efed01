// Run by tests/runtimes/deno.test.mjs under Deno: loads a model file with the package and prints the
// variant, thread count and the vectors of the texts given as JSON on the command line.
import { JinaEmbeddings } from '../../../js/index.mjs';

const [modelPath, casesJson] = Deno.args;
const model = await JinaEmbeddings.load(await Deno.readFile(modelPath), { cache: false });
const rows = [];
for (const { text, options } of JSON.parse(casesJson)) {
  rows.push(Array.from((await model.embed(text, options)).data[0].embedding));
}
console.log(JSON.stringify({ variant: model.info.variant, threads: model.info.threads, rows }));
await model.dispose();
