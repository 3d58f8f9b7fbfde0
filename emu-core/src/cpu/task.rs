//! Hardware task switching through TSS descriptors and task gates (Intel SDM
//! vol. 3, chapter 8). (Being written.)
