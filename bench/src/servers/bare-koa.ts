// Baseline: koa answering a constant JSON document.
import Koa from 'koa';

const app = new Koa();
const body = { id: '0190b6a4-0000-7000-8000-000000000000', title: 'Constant', content: 'x'.repeat(200), orgId: null, ownerId: 'u' };
app.use((ctx) => {
  ctx.body = body;
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`READY ${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
