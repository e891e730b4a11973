/**
 * The real KVM host of the tests: the same code `hvmap demo --real-kvm` runs (collector/src/demo/
 * real-kvm), here allowed to install what is missing with apt-get.
 */
export {
  type GuestSpec,
  OS_RELEASES,
  REAL_KVM_PACKAGES,
  type RealKvm,
  startRealKvm,
} from '../../../collector/src/demo/real-kvm/real-kvm.js';
