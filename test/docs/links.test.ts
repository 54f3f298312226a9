// Every relative link of README.md, SECURITY.md, CHANGELOG.md, the examples' READMEs and docs/**/*.md reaches a file
// that exists, and every #anchor a heading of that file; and the errors page lists every code of lib/cred/errors.ts.
import t from 'tap'
import { existsSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'

const root = new URL('../..', import.meta.url).pathname

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
export function anchorOf (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replaceAll(' ', '-')
}

/** The anchors of a Markdown text's headings (outside code fences), with GitHub's -1, -2 for repeats. */
function anchors (markdown: string): Set<string> {
  const found = new Set<string>()
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced
    const heading = fenced ? null : /^#{1,6} (.*)$/.exec(line)
    if (heading === null) continue
    const base = anchorOf(heading[1] ?? '')
    let anchor = base
    for (let n = 1; found.has(anchor); n++) anchor = `${base}-${n}`
    found.add(anchor)
  }
  return found
}

/** The link targets of a Markdown text, outside code fences and inline code. */
function links (markdown: string): string[] {
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '')
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1] ?? '')
}

async function documents (): Promise<string[]> {
  const found = ['README.md', 'SECURITY.md', 'CHANGELOG.md']
  for (const folder of ['docs', 'examples']) {
    for (const entry of await readdir(join(root, folder), { recursive: true, withFileTypes: true })) {
      const path = relative(root, join(entry.parentPath, entry.name))
      if (entry.isFile() && entry.name.endsWith('.md') && !path.startsWith('docs/api/')) found.push(path)
    }
  }
  return found.sort()
}

t.test('every relative link reaches a file, and every anchor a heading', async (t) => {
  const files = await documents()
  t.ok(files.includes('docs/README.md'), 'docs/ has its index')
  let checked = 0
  for (const file of files) {
    const markdown = await readFile(join(root, file), 'utf8')
    for (const target of links(markdown)) {
      if (/^[a-z][a-z+.-]*:/i.test(target)) continue
      const [path = '', anchor] = target.split('#')
      const resolved = path === '' ? join(root, file) : join(root, dirname(file), decodeURIComponent(path))
      checked++
      if (!existsSync(resolved)) { t.fail(`${file}: ${target} (no such file)`); continue }
      if (anchor !== undefined && resolved.endsWith('.md')) {
        t.ok(anchors(await readFile(resolved, 'utf8')).has(anchor), `${file}: ${target} (the anchor exists)`)
      }
    }
  }
  t.ok(checked > 100, `links checked (${checked})`)
})

t.test('the README stays short, and links every page of docs/', async (t) => {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  t.ok(Buffer.byteLength(readme) <= 15 * 1024, `README.md is at most 15 KB (${Buffer.byteLength(readme)} bytes)`)
  const index = await readFile(join(root, 'docs/README.md'), 'utf8')
  const linked = new Set([...links(readme), ...links(index).map((target) => `docs/${target}`)].map((target) => target.split('#')[0]))
  for (const file of await documents()) {
    if (file.startsWith('docs/') && file !== 'docs/README.md') t.ok(linked.has(file), `${file} is linked from the README or docs/README.md`)
  }
})

t.test('docs/reference/errors.md lists every code of lib/cred/errors.ts, once', async (t) => {
  const source = await readFile(join(root, 'lib/cred/errors.ts'), 'utf8')
  const codes = [...source.matchAll(/^export class (\w+) extends \w+ \{\n\s+(?:override )?readonly code[^=]*= '(ERR_CRED\w*)'/gm)].map((m) => `${m[2]} ${m[1]}`)
  t.ok(codes.length >= 19, `codes found in the source (${codes.length})`)
  const page = await readFile(join(root, 'docs/reference/errors.md'), 'utf8')
  const rows = [...page.matchAll(/^\| `(ERR_CRED\w*)` \| `(\w+)` \|/gm)].map((m) => `${m[1]} ${m[2]}`)
  t.same(rows.toSorted(), codes.toSorted(), 'one row per class, with its code')
})
