"""Table models: one QAbstractTableModel subclass per table, with named columns."""
