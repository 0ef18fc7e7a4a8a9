//! A stack that holds its first frames in place: a walk of a shallow state
//! (most of them) allocates nothing.

/// Up to `N` values in place, the rest in a `Vec`.
#[derive(Debug)]
pub(crate) struct Stack<T: Copy, const N: usize> {
    inline: [T; N],
    len: usize,
    spill: Vec<T>,
}

impl<T: Copy, const N: usize> Stack<T, N> {
    /// An empty stack; `fill` only initializes the places.
    pub fn new(fill: T) -> Self {
        Stack {
            inline: [fill; N],
            len: 0,
            spill: Vec::new(),
        }
    }

    #[inline]
    pub fn push(&mut self, v: T) {
        if self.len < N {
            self.inline[self.len] = v;
        } else {
            self.spill.push(v);
        }
        self.len += 1;
    }

    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        if self.len < N {
            Some(self.inline[self.len])
        } else {
            self.spill.pop()
        }
    }

    #[inline]
    pub fn last(&self) -> Option<&T> {
        match self.len {
            0 => None,
            n if n <= N => self.inline.get(n - 1),
            _ => self.spill.last(),
        }
    }

    #[inline]
    pub fn last_mut(&mut self) -> Option<&mut T> {
        match self.len {
            0 => None,
            n if n <= N => self.inline.get_mut(n - 1),
            _ => self.spill.last_mut(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Stack;

    #[test]
    fn spills_past_its_places() {
        let mut s: Stack<u32, 2> = Stack::new(0);
        for i in 0..5 {
            s.push(i);
            assert_eq!(s.last(), Some(&i));
        }
        for i in (0..5).rev() {
            assert_eq!(s.pop(), Some(i));
        }
        assert_eq!(s.pop(), None);
        assert!(s.last().is_none());
    }
}
