//! Redis glob-style matching (`stringmatchlen`) for KEYS and SCAN MATCH: `*`, `?`,
//! `[abc]`, `[^a]`, `[a-z]`, and `\` escapes.
//!
//! Implemented with the classic single-backtrack-point algorithm (only the most recent `*`
//! is ever retried), so matching is O(pattern × string) worst case instead of Redis's
//! exponential recursion — the results are the same.

/// Matches one non-`*` token at `p[pi..]` against byte `c`; returns (matched, next index).
fn token(p: &[u8], pi: usize, c: u8) -> (bool, usize) {
    match p[pi] {
        b'?' => (true, pi + 1),
        b'\\' if pi + 1 < p.len() => (p[pi + 1] == c, pi + 2),
        b'[' => {
            let mut i = pi + 1;
            let not = p.get(i) == Some(&b'^');
            if not {
                i += 1;
            }
            let mut hit = false;
            loop {
                match p.get(i) {
                    None => break,
                    Some(b'\\') if i + 1 < p.len() => {
                        if p[i + 1] == c {
                            hit = true;
                        }
                        i += 2;
                    }
                    Some(b']') => {
                        i += 1;
                        break;
                    }
                    Some(&lo) if p.get(i + 1) == Some(&b'-') && i + 2 < p.len() => {
                        let hi = p[i + 2];
                        let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
                        if (lo..=hi).contains(&c) {
                            hit = true;
                        }
                        i += 3;
                    }
                    Some(&x) => {
                        if x == c {
                            hit = true;
                        }
                        i += 1;
                    }
                }
            }
            (hit != not, i)
        }
        x => (x == c, pi + 1),
    }
}

/// True if `s` matches glob `p`.
pub fn matches(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    // (pattern index after the star, string index the star currently extends to)
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() && p[pi] == b'*' {
            pi += 1;
            star = Some((pi, si));
            continue;
        }
        if si == s.len() {
            return p[pi..].iter().all(|&c| c == b'*');
        }
        if pi < p.len() {
            let (ok, next) = token(p, pi, s[si]);
            if ok {
                pi = next;
                si += 1;
                continue;
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn glob_cases() {
        let yes = [
            ("*", ""),
            ("*", "abc"),
            ("h?llo", "hello"),
            ("h*llo", "hllo"),
            ("h*llo", "heeeello"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("h[b-a]llo", "hallo"),
            ("h\\*llo", "h*llo"),
            ("[\\]]", "]"),
            ("a*b*c", "aXXbYYc"),
            ("*.txt", "notes.txt"),
            ("user:*:name", "user:42:name"),
            ("\\", "\\"),
        ];
        for (p, s) in yes {
            assert!(matches(p.as_bytes(), s.as_bytes()), "{p} !~ {s}");
        }
        let no = [
            ("h?llo", "hllo"),
            ("h[ae]llo", "hillo"),
            ("h[^e]llo", "hello"),
            ("h[a-b]llo", "hcllo"),
            ("h\\*llo", "hello"),
            ("a*b", "acbd"),
            ("", "a"),
            ("abc", "ab"),
        ];
        for (p, s) in no {
            assert!(!matches(p.as_bytes(), s.as_bytes()), "{p} =~ {s}");
        }
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let p = "a*".repeat(50) + "b";
        let s = "a".repeat(5000);
        assert!(!matches(p.as_bytes(), s.as_bytes()));
    }
}
