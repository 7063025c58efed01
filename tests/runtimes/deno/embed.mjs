// Run by tests/runtimes/deno.test.mjs under Deno: loads a model file with the package (resident: its
// bytes; paged or streamed: its path, read at offsets) and prints the variant, thread count, memory
// mode and the vectors of the texts given as JSON on the command line.
import { JinaEmbeddings } from '../../../js/index.mjs';

const [modelPath, casesJson, memory = 'resident'] = Deno.args;
const model = memory === 'resident'
  ? await JinaEmbeddings.load(await Deno.readFile(modelPath), { cache: false })
  : await JinaEmbeddings.load(modelPath, { memory });
const rows = [];
for (const { text, options } of JSON.parse(casesJson)) {
  rows.push(Array.from((await model.embed(text, options)).data[0].embedding));
}
console.log(JSON.stringify({ variant: model.info.variant, threads: model.info.threads, memory: model.info.memory, rows }));
await model.dispose();
