// Placeholder until the command lands; keeps the dispatcher type-checking.
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write("l7proxy check: not implemented yet\n");
  return 2;
}
