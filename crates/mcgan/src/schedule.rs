//! Learning-rate schedule: constant, then a linear decay to zero, stepped once per epoch.

/// Learning rate per 0-based epoch: `lr` for epochs before `decay_from_epoch`, then
/// `lr * (1 - (epoch - decay_from_epoch) / (epochs - decay_from_epoch))`.
///
/// With `epochs = 200` and `decay_from_epoch = 100` this is the reference schedule, whose last
/// epoch runs at `lr / 100`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearDecaySchedule {
    /// Initial learning rate.
    pub lr: f64,
    /// Total number of epochs.
    pub epochs: usize,
    /// First epoch (0-based) whose rate is below `lr`.
    pub decay_from_epoch: usize,
}

impl LinearDecaySchedule {
    /// Learning rate during the 0-based `epoch`.
    pub fn lr_at_epoch(&self, epoch: usize) -> f64 {
        if epoch <= self.decay_from_epoch || self.epochs <= self.decay_from_epoch {
            return self.lr;
        }
        let decay_epochs = (self.epochs - self.decay_from_epoch) as f64;
        let factor = 1.0 - (epoch - self.decay_from_epoch) as f64 / decay_epochs;
        self.lr * factor.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER: LinearDecaySchedule = LinearDecaySchedule {
        lr: 2e-4,
        epochs: 200,
        decay_from_epoch: 100,
    };

    #[test]
    fn rate_constant_before_decay() {
        assert_eq!(PAPER.lr_at_epoch(0), 2e-4);
        assert_eq!(PAPER.lr_at_epoch(100), 2e-4);
    }

    #[test]
    fn rate_decays_linearly_after() {
        // factor 1 - (e - 100) / 100
        assert!((PAPER.lr_at_epoch(101) - 2e-4 * 0.99).abs() < 1e-15);
        assert!((PAPER.lr_at_epoch(150) - 1e-4).abs() < 1e-15);
        assert!((PAPER.lr_at_epoch(199) - 2e-6).abs() < 1e-15);
    }

    #[test]
    fn rate_without_decay_stays_constant() {
        let schedule = LinearDecaySchedule {
            lr: 1e-3,
            epochs: 3,
            decay_from_epoch: 5,
        };
        assert_eq!(schedule.lr_at_epoch(2), 1e-3);
    }
}
