{{ segment() }}
